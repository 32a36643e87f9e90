//! A CloudFormation/SAM template's parameter defaults (`Parameters: → Name: → Default:`), for
//! `spillway simulate --template`. yaml-rust2 loads CloudFormation's short-form tags (`!Ref`,
//! `!Sub`…) as the plain values they tag, which is all this needs.

use yaml_rust2::{Yaml, YamlLoader};

/// Every parameter with a `Default:`, in the template's order, as text.
pub fn defaults(text: &str) -> Result<Vec<(String, String)>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    let doc = docs.first().ok_or("empty document")?;
    let Yaml::Hash(parameters) = &doc["Parameters"] else {
        return Err("no `Parameters:` section".to_owned());
    };
    let mut out = Vec::new();
    for (name, body) in parameters {
        let Some(name) = name.as_str() else {
            return Err(format!("a parameter name is not text: {name:?}"));
        };
        let value = match &body["Default"] {
            Yaml::BadValue => continue,
            Yaml::String(s) | Yaml::Real(s) => s.clone(),
            Yaml::Integer(i) => i.to_string(),
            Yaml::Boolean(b) => b.to_string(),
            other => return Err(format!("{name}: a Default that is not a scalar: {other:?}")),
        };
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_template_has_defaults_should_read_them_as_text() {
        let text = "Transform: AWS::Serverless-2016-10-31\nParameters:\n  WeightStep:\n    Type: Number\n    Default: 25\n  DryRun:\n    Type: String\n    Default: \"false\"\n  ClusterIdentifier:\n    Type: String\nResources:\n  X:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref ClusterIdentifier\n";
        assert_eq!(
            defaults(text).expect("parses"),
            vec![
                ("WeightStep".to_owned(), "25".to_owned()),
                ("DryRun".to_owned(), "false".to_owned())
            ]
        );
        assert!(defaults("Resources: {}\n").is_err(), "no parameters");
        assert!(defaults("a: [").is_err(), "not YAML");
    }
}
