//! The scaling signals, by Aurora Serverless v1's own rules: scale **up** when CPU is high **or**
//! connections are high, **down** only when CPU is low **and** connections are low. Aurora's
//! page stated them as "CPU above 70 percent utilization; more than 90 percent of connections
//! being used" (any) and "CPU below 30 percent utilization; less than 40 percent of connections
//! being used" (all) ("How Aurora Serverless works", Aurora User Guide, 2018–2019 editions; the
//! current page keeps the cooldowns: no scale-down for 15 minutes after a scale-up, 310 seconds
//! between scale-downs). Issue 10's first piece: the rule and its thresholds' checks; the
//! template's composite alarms are the next.

/// The thresholds of one cluster, percentages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub cpu_high: f64,
    pub cpu_low: f64,
    /// Of `max_connections`; `None`: connections are not a signal (CPU alone, as before).
    pub connections: Option<ConnectionThresholds>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionThresholds {
    pub high: f64,
    pub low: f64,
}

impl Default for Thresholds {
    /// Aurora Serverless v1's.
    fn default() -> Self {
        Self {
            cpu_high: 70.0,
            cpu_low: 30.0,
            connections: Some(ConnectionThresholds {
                high: 90.0,
                low: 40.0,
            }),
        }
    }
}

impl Thresholds {
    /// Every problem, each naming its threshold.
    pub fn problems(&self) -> Vec<String> {
        let mut found = vec![];
        let mut percent = |name: &str, v: f64| {
            if !(0.0..=100.0).contains(&v) || v.is_nan() {
                found.push(format!("{name} = {v}: a percentage from 0 to 100"));
            }
        };
        percent("cpu high", self.cpu_high);
        percent("cpu low", self.cpu_low);
        if let Some(c) = self.connections {
            percent("connections high", c.high);
            percent("connections low", c.low);
        }
        if self.cpu_low >= self.cpu_high {
            found.push(format!(
                "cpu low ({}) must be below cpu high ({}): otherwise both signals can hold at once",
                self.cpu_low, self.cpu_high
            ));
        }
        if let Some(c) = self.connections
            && c.low >= c.high
        {
            found.push(format!(
                "connections low ({}) must be below connections high ({})",
                c.low, c.high
            ));
        }
        found
    }
}

/// What the alarms say, one flag per child alarm in ALARM (`None`: that signal is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Children {
    pub cpu_high: bool,
    pub cpu_low: bool,
    pub connections_high: Option<bool>,
    pub connections_low: Option<bool>,
}

/// The high signal: CPU high **or** connections high.
pub fn high(c: Children) -> bool {
    c.cpu_high || c.connections_high == Some(true)
}

/// The low signal: CPU low **and** connections low (connections off: CPU alone).
pub fn low(c: Children) -> bool {
    c.cpu_low && c.connections_low.unwrap_or(true)
}

/// The composite alarms' rules, as CloudWatch's `AlarmRule` writes them.
pub fn alarm_rules(
    cpu_high: &str,
    cpu_low: &str,
    connections: Option<(&str, &str)>,
) -> (String, String) {
    match connections {
        Some((conn_high, conn_low)) => (
            format!("ALARM(\"{cpu_high}\") OR ALARM(\"{conn_high}\")"),
            format!("ALARM(\"{cpu_low}\") AND ALARM(\"{conn_low}\")"),
        ),
        None => (
            format!("ALARM(\"{cpu_high}\")"),
            format!("ALARM(\"{cpu_low}\")"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn connections_alone_raise_but_cannot_lower_alone() {
        let storm = Children {
            cpu_high: false,
            cpu_low: true,
            connections_high: Some(true),
            connections_low: Some(false),
        };
        assert!(high(storm), "a connection storm with idle CPU is high");
        assert!(!low(storm), "CPU low but connections high: no scale-down");
        let calm = Children {
            connections_high: Some(false),
            connections_low: Some(true),
            ..storm
        };
        assert!(!high(calm) && low(calm));
        // Connections off: CPU alone, both ways.
        let cpu_only = Children {
            cpu_high: true,
            ..Children::default()
        };
        assert!(high(cpu_only) && !low(cpu_only));
        assert!(low(Children {
            cpu_low: true,
            ..Children::default()
        }));
    }

    #[test]
    fn thresholds_out_of_order_or_range_are_named() {
        assert!(Thresholds::default().problems().is_empty());
        let bad = Thresholds {
            cpu_high: 30.0,
            cpu_low: 70.0,
            connections: Some(ConnectionThresholds {
                high: 120.0,
                low: 40.0,
            }),
        };
        let p = bad.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("connections high = 120"), "{p:?}");
        assert!(
            p[1].starts_with("cpu low (70) must be below cpu high (30)"),
            "{p:?}"
        );
    }

    #[test]
    fn the_rules_read_as_cloudwatch_writes_them() {
        let (h, l) = alarm_rules(
            "o-cpu-high",
            "o-cpu-low",
            Some(("o-conn-high", "o-conn-low")),
        );
        assert_eq!(h, r#"ALARM("o-cpu-high") OR ALARM("o-conn-high")"#);
        assert_eq!(l, r#"ALARM("o-cpu-low") AND ALARM("o-conn-low")"#);
        assert_eq!(alarm_rules("a", "b", None).1, r#"ALARM("b")"#);
    }

    proptest! {
        /// With ordered thresholds the two signals never hold at once.
        #[test]
        fn high_and_low_never_both(cpu in 0.0f64..100.0, conn in 0.0f64..100.0) {
            let t = Thresholds::default();
            let c = t.connections.unwrap();
            let children = Children {
                cpu_high: cpu > t.cpu_high,
                cpu_low: cpu < t.cpu_low,
                connections_high: Some(conn > c.high),
                connections_low: Some(conn < c.low),
            };
            prop_assert!(!(high(children) && low(children)));
        }
    }
}
