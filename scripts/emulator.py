"""The local AWS emulator as the harness runs it: ministack, plus what the pinned release lacks
that the stack needs. Every addition is an emulator gap, named here; nothing in the product
changes for it.

- ministack 1.5.33 answers the PutCompositeAlarm API (and derives a composite's state from its
  children) but its CloudFormation has no AWS::CloudWatch::CompositeAlarm resource type
  ("Template format error: Unrecognized resource types"). The provisioner added here creates,
  updates and deletes one through the emulator's own PutCompositeAlarm / DeleteAlarms, as
  CloudFormation's resource does on AWS (Ref: the alarm name; GetAtt Arn; AlarmName: update
  requires replacement, which the template never changes)."""
import sys

from ministack.app import main
from ministack.services import cloudwatch as cw
from ministack.services.cloudformation import provisioners


def _put(props, stack_name, logical_id):
    name = props.get("AlarmName") or f"{stack_name}-{logical_id}"
    answer = cw._put_composite_alarm({}, {
        "AlarmName": name,
        "AlarmRule": props.get("AlarmRule", ""),
        "AlarmDescription": props.get("AlarmDescription", ""),
        "ActionsEnabled": props.get("ActionsEnabled", True) not in (False, "false"),
        "AlarmActions": props.get("AlarmActions", []),
        "OKActions": props.get("OKActions", []),
        "InsufficientDataActions": props.get("InsufficientDataActions", []),
    }, False, True)
    status = answer[0] if isinstance(answer, tuple) else 200
    if status >= 400:
        raise ValueError(f"PutCompositeAlarm {name}: {answer[2] if len(answer) > 2 else answer}")
    return name, {"Arn": cw._composite_alarms[name]["AlarmArn"]}


def _create(logical_id, props, stack_name):
    return _put(props, stack_name, logical_id)


def _update(physical_id, old_props, new_props, stack_name, logical_id=None):
    return _put(new_props, stack_name, logical_id or physical_id)


def _delete(physical_id, props):
    cw._delete_alarms({}, {"AlarmNames": [physical_id]}, False, True)


provisioners._RESOURCE_HANDLERS.setdefault("AWS::CloudWatch::CompositeAlarm", {
    "create": _create,
    "update": _update,
    "update_with_logical_id": True,
    "delete": _delete,
})

if __name__ == "__main__":
    sys.argv[0] = "ministack"
    sys.exit(main())
