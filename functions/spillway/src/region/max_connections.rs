//! An Aurora instance's default `max_connections`, from its class and engine: what a
//! connections threshold given as a percentage is a percentage of (issue 10's first piece).
//!
//! AWS's default parameter groups set it by formula on `DBInstanceClassMemory`, "bytes of
//! memory available to the database process … always somewhat lower than the memory figures
//! shown in the instance class tables" ("Specifying DB parameters", Amazon RDS User Guide),
//! in which "the `log` function represents log base 2":
//! - Aurora PostgreSQL: `LEAST({DBInstanceClassMemory/9531392},5000)` ("Managing Aurora
//!   PostgreSQL", Aurora User Guide);
//! - Aurora MySQL: `GREATEST({log(DBInstanceClassMemory/805306368)*45},
//!   {log(DBInstanceClassMemory/8187281408)*1000})` (the default parameter group's value, as
//!   `DescribeEngineDefaultParameters` returns it; the Aurora User Guide gives only its table:
//!   1,000 for a `large` r-class instance, +1,000 each time memory doubles, 90 for t3.medium).
//!
//! `DBInstanceClassMemory` is not published per class. The tables fix it for the memory-optimised
//! classes: 1,000 connections on a 16 GiB `r6g.large` means exactly 2 × 8,187,281,408 bytes,
//! 95.3 % of 16 GiB, and PostgreSQL's 1,722 on the same class gives the same fraction. So for
//! the r- and x-families the nominal memory times [`MEMORY_AVAILABLE`] stands in for it, and the
//! tests hold the formulas to AWS's tables. The burstable t-classes reserve a larger, engine-
//! dependent share (MySQL's 90 on a 4 GiB t3.medium means 3 GiB; PostgreSQL's 405 on a 4 GiB
//! t4g.medium means 3.6 GiB): their values are the tables' own. A custom parameter group that
//! sets `max_connections` makes all of this moot: configure the number. Between the doublings
//! (12xlarge, 24xlarge) AWS's MySQL table shows rounder, higher figures than the formula gives;
//! the formula's lower one is kept (a percentage of it alarms earlier, never later).

/// `DBInstanceClassMemory` / the class's nominal memory (derived from AWS's tables, above).
pub const MEMORY_AVAILABLE: f64 = 0.953;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    AuroraMysql,
    AuroraPostgresql,
}

impl Engine {
    /// RDS's engine name (`aurora-mysql`, `aurora-postgresql`).
    pub fn from_rds(name: &str) -> Option<Self> {
        match name {
            "aurora-mysql" | "aurora" => Some(Self::AuroraMysql),
            "aurora-postgresql" => Some(Self::AuroraPostgresql),
            _ => None,
        }
    }
}

/// Nominal memory of the classes Aurora offers, GiB, by size (r-, x- and t-families differ).
fn nominal_gib(class: &str) -> Option<f64> {
    let mut parts = class.split('.');
    let (db, family, size) = (parts.next()?, parts.next()?, parts.next()?);
    if db != "db" || parts.next().is_some() {
        return None;
    }
    let r_class = |size: &str| -> Option<f64> {
        Some(match size {
            "large" => 16.0,
            "xlarge" => 32.0,
            "2xlarge" => 64.0,
            "4xlarge" => 128.0,
            "8xlarge" => 256.0,
            "12xlarge" => 384.0,
            "16xlarge" => 512.0,
            "24xlarge" => 768.0,
            "32xlarge" => 1024.0,
            _ => return None,
        })
    };
    match family.chars().next()? {
        'r' => r_class(size),
        // x-family: twice the r-family's memory per size.
        'x' => r_class(size).map(|g| g * 2.0),
        _ => None,
    }
}

/// The burstable classes, from AWS's tables (see the module's comment).
fn burstable(engine: Engine, class: &str) -> Option<u32> {
    match (engine, class) {
        (Engine::AuroraMysql, "db.t3.medium" | "db.t4g.medium") => Some(90),
        (Engine::AuroraMysql, "db.t3.large" | "db.t4g.large") => Some(135),
        (Engine::AuroraPostgresql, "db.t4g.medium") => Some(405),
        _ => None,
    }
}

/// The default `max_connections` of `class` under `engine`; `None` for a class whose memory
/// is not known here (db.serverless: it follows the ACU maximum) — configure it then.
pub fn default_max_connections(engine: Engine, class: &str) -> Option<u32> {
    if let Some(n) = burstable(engine, class) {
        return Some(n);
    }
    let memory = nominal_gib(class)? * GIB * MEMORY_AVAILABLE;
    let value = match engine {
        Engine::AuroraMysql => {
            let small = (memory / 805_306_368.0).log2() * 45.0;
            let large = (memory / 8_187_281_408.0).log2() * 1000.0;
            small.max(large)
        }
        Engine::AuroraPostgresql => (memory / 9_531_392.0).min(5000.0),
    };
    // Parameter formulas yield whole numbers; the tables read as rounded.
    Some(value.round().max(1.0) as u32)
}

/// A connections threshold: `percent` of `max_connections`, in connections (at least 1).
pub fn threshold(percent: f64, max_connections: u32) -> u32 {
    ((percent / 100.0) * f64::from(max_connections))
        .ceil()
        .max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's tables ("Maximum connections to an Aurora MySQL DB instance", "Maximum
    /// connections for Aurora PostgreSQL"), as of the pages cited above.
    #[test]
    fn the_formulas_give_aws_s_tables() {
        let mysql = [
            ("db.r6g.large", 1000),
            ("db.r6g.xlarge", 2000),
            ("db.r6g.2xlarge", 3000),
            ("db.r6g.4xlarge", 4000),
            ("db.r6g.8xlarge", 5000),
            ("db.r6g.16xlarge", 6000),
            ("db.t3.medium", 90),
            ("db.t4g.large", 135),
        ];
        for (class, table) in mysql {
            let got = default_max_connections(Engine::AuroraMysql, class).unwrap();
            assert!(
                got.abs_diff(table) <= table / 100 + 1,
                "{class}: {got} vs {table}"
            );
        }
        let pg = [
            ("db.r6g.large", 1722),
            ("db.r6g.xlarge", 3479),
            ("db.r5.2xlarge", 5000),
        ];
        for (class, table) in pg {
            let got = default_max_connections(Engine::AuroraPostgresql, class).unwrap();
            assert!(
                got.abs_diff(table) <= table / 50,
                "{class}: {got} vs {table}"
            );
        }
        // Between the doublings the table rounds up (12xlarge 6,000, 24xlarge 7,000) where the
        // formula gives less: the lower figure is kept (a percentage of it alarms earlier).
        assert_eq!(
            default_max_connections(Engine::AuroraMysql, "db.r6g.12xlarge"),
            Some(5585)
        );
        assert_eq!(
            default_max_connections(Engine::AuroraMysql, "db.r5.24xlarge"),
            Some(6585)
        );
        assert_eq!(
            default_max_connections(Engine::AuroraMysql, "db.serverless"),
            None
        );
        assert_eq!(Engine::from_rds("mysql"), None);
    }

    #[test]
    fn a_percentage_is_rounded_up_to_whole_connections() {
        assert_eq!(threshold(90.0, 1000), 900);
        assert_eq!(threshold(40.0, 135), 54);
        assert_eq!(threshold(0.0, 1000), 1);
    }
}
