"""Every watched cluster of a Region on one pair of machines and one weight-step function: each
execution loads its cluster's settings (SSM) and holds its cluster's lock, so a spike on one
cluster moves that cluster's weights only, and the clusters' loops run side by side."""
import json

from conftest import rds_cluster


def test_a_spike_on_one_cluster_moves_only_its_weights(aws, stack):
    other = stack.add_cluster(rds_cluster(aws, "tickets")).name
    stack.set_alarm(stack.high, "ALARM")
    up = stack.start("scale-up")
    seen = stack.watch([up], on_tick=lambda w, _t: w[0] == 75 and stack.set_alarm(stack.high, "OK"))
    assert seen[-1] == (75, 100), seen
    assert stack.status(up)["status"] == "SUCCEEDED"
    assert stack.weights(other) == (0, 100), "the other cluster's pair untouched"
    # Its own alarm was OK all along: a sweep of it finds nothing to do and takes nothing.
    sweep = stack.start("scale-up", sweep=True, cluster=other)
    stack.watch([sweep])
    assert stack.final_state(sweep) == "Load is back under the threshold"
    assert stack.weights(other) == (0, 100)
    assert stack.lock_owner("scale-up", other) is None


def test_two_clusters_spill_side_by_side_each_owning_its_own_loop(aws, stack):
    other = stack.add_cluster(rds_cluster(aws, "tickets"))
    for c in (stack, other):
        stack.set_alarm(c.high, "ALARM")
    ups = {stack.cluster: stack.start("scale-up"),
           other.name: stack.start("scale-up", cluster=other.name)}

    def both_at_the_top(_w, _t):
        if all(stack.weights(c) == (75, 100) for c in ups):
            for c in (stack, other):
                stack.set_alarm(c.high, "OK")
    stack.watch(list(ups.values()), on_tick=both_at_the_top)
    for c, execution in ups.items():
        assert stack.status(execution)["status"] == "SUCCEEDED", c
        assert "Raise the serverless weight" in stack.states_entered(execution), \
            f"{c}: its execution owned its own loop (no standby behind the other cluster's)"
        assert stack.weights(c) == (75, 100), c
    # Each cluster's raise is on record under its own name, for its own scale-down delay.
    for c in ups:
        note = aws["dynamodb"].get_item(TableName=stack.lock_table, Key={
            "lock": {"S": f"last-raise#{c}"}}, ConsistentRead=True).get("Item")
        assert note and note["by"]["S"] == ups[c], c


def test_a_start_for_no_cluster_or_an_unwatched_one_takes_nothing(aws, stack):
    sfn = aws["stepfunctions"]
    for payload, error in (({}, "NoClusterNamed"), ({"sweep": True}, "NoClusterNamed"),
                           ({"cluster": 7}, "NoClusterNamed"), ({"cluster": ""}, "NoClusterNamed"),
                           ({"cluster": "not-watched"}, "UnknownCluster")):
        for kind in ("scale-up", "scale-down"):
            execution = sfn.start_execution(stateMachineArn=stack.machines[kind],
                                            input=json.dumps(payload))["executionArn"]
            stack.watch([execution])
            done = stack.status(execution)
            assert (done["status"], done.get("error")) == ("FAILED", error), (kind, payload, done)
            assert "Take the loop" not in stack.states_entered(execution)
    assert stack.weights() == (0, 100)


def test_a_fourth_cluster_added_mid_spill_leaves_the_others_running_untouched(aws, stack):
    # GIVEN three watched clusters, two of them spilling
    tickets = stack.add_cluster(rds_cluster(aws, "tickets"))
    search = stack.add_cluster(rds_cluster(aws, "search"))
    for c in (stack, tickets):
        stack.set_alarm(c.high, "ALARM")
    ups = {stack.cluster: stack.start("scale-up"),
           tickets.name: stack.start("scale-up", cluster=tickets.name)}
    added = {}

    def tick(_w, _t):
        # WHEN a fourth cluster is added while they run (its settings document appears, as a
        # stack update writes it) and its sweep runs
        if not added and stack.weights()[0] >= 25:
            added["payments"] = stack.add_cluster(rds_cluster(aws, "payments"))
            added["sweep"] = stack.start("scale-up", sweep=True, cluster=added["payments"].name)
        if all(stack.weights(c) == (75, 100) for c in ups):
            for c in (stack, tickets):
                stack.set_alarm(c.high, "OK")
    stack.watch(list(ups.values()), on_tick=tick, timeout=90)
    assert added, "the fourth cluster was added mid-spill"
    # THEN the spilling clusters' executions went on to their end, each raising its own pair
    for c, execution in ups.items():
        assert stack.status(execution)["status"] == "SUCCEEDED", c
        assert stack.weights(c) == (75, 100), c
    # AND the idle cluster and the new one were never moved
    stack.watch([added["sweep"]])
    assert stack.status(added["sweep"])["status"] == "SUCCEEDED"
    assert stack.weights(search.name) == (0, 100)
    assert stack.weights(added["payments"].name) == (0, 100)
