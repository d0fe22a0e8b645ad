//! Checking a request's variable values against the types its operation
//! declares (the GraphQL spec's *CoerceVariableValues*), before anything
//! runs, on every request.
//!
//! async-graphql checks variable values only as part of validating the whole
//! document, where they are substituted into the arguments that use them.
//! The rest of validation depends on the document text alone, so the engine
//! validates a document in full once and, for later requests with the same
//! text, runs only the checks that depend on the request: these, and the
//! limits (complexity can depend on a variable such as `first`). Values are
//! judged as async-graphql judges an argument's value (its
//! `is_valid_input_value`, with the schema's own scalar checks), against the
//! variable's declared type; validation ensures that type fits every place
//! the variable is used, so a value that passes here passes there.
//!
//! Stricter than async-graphql alone in one respect, as the spec requires: a
//! variable declared non-null must be given (or have a default) and must not
//! be null, wherever it is used.

use async_graphql::parser::types::OperationDefinition;
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{OutputType, ServerError, Variables};
use async_graphql_value::ConstValue;
use std::fmt::Write;

use super::schema::{MutationRoot, QueryRoot};
use super::subscription::SubscriptionRoot;

/// The schema's input types (scalars, enums, input objects), to judge
/// variable values with.
pub struct InputTypes(Registry);

impl InputTypes {
    /// Every type the schema's roots reach.
    pub fn of_schema() -> InputTypes {
        let mut registry = Registry::default();
        <QueryRoot as OutputType>::create_type_info(&mut registry);
        <MutationRoot as OutputType>::create_type_info(&mut registry);
        <SubscriptionRoot as async_graphql::SubscriptionType>::create_type_info(&mut registry);
        InputTypes(registry)
    }

    /// The first variable of `operation` whose value `variables` does not
    /// give as its declared type requires, as a request error.
    pub fn check(
        &self,
        operation: &OperationDefinition,
        variables: &Variables,
    ) -> Result<(), ServerError> {
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            let name = &definition.name.node;
            let ty = definition.var_type.node.to_string();
            let problem = match variables.get(name) {
                None if definition.default_value.is_none()
                    && !definition.var_type.node.nullable =>
                {
                    Some(format!(
                        "Variable \"${name}\" of required type \"{ty}\" was not provided."
                    ))
                }
                None => None,
                Some(value) => {
                    let mut path = format!("${name}");
                    self.problem(&ty, value, &mut path).map(|reason| {
                        format!("Variable \"${name}\" got an invalid value: {reason}")
                    })
                }
            };
            if let Some(message) = problem {
                return Err(ServerError::new(message, Some(definition.name.pos)));
            }
        }
        Ok(())
    }

    /// Whether every variable the operation declares has a value or a
    /// default: only then has validation judged every argument.
    pub fn all_given(operation: &OperationDefinition, variables: &Variables) -> bool {
        operation.variable_definitions.iter().all(|definition| {
            definition.node.default_value.is_some()
                || variables.contains_key(&definition.node.name.node)
        })
    }

    /// Why `value` is not a `ty` (the registry's spelling: `[String!]!`),
    /// naming where in the value (`path`).
    fn problem(&self, ty: &str, value: &ConstValue, path: &mut String) -> Option<String> {
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => match value {
                ConstValue::Null => Some(format!("{path} must not be null")),
                _ => self.problem(inner, value, path),
            },
            MetaTypeName::List(inner) => match value {
                ConstValue::List(items) => items.iter().enumerate().find_map(|(index, item)| {
                    let len = path.len();
                    let _ = write!(path, "[{index}]");
                    let problem = self.problem(inner, item, path);
                    path.truncate(len);
                    problem
                }),
                ConstValue::Null => None,
                // One value where a list is expected is a list of one.
                _ => self.problem(inner, value, path),
            },
            MetaTypeName::Named(name) => {
                if let ConstValue::Null = value {
                    return None;
                }
                // A type the schema does not have: validation refuses the
                // document, with a better message than this could give.
                let ty = self.0.types.get(name)?;
                self.named_problem(name, ty, value, path)
            }
        }
    }

    fn named_problem(
        &self,
        name: &str,
        ty: &MetaType,
        value: &ConstValue,
        path: &mut String,
    ) -> Option<String> {
        let expected = || Some(format!("{path} is not a valid {name}"));
        match ty {
            MetaType::Scalar {
                is_valid: Some(is_valid),
                ..
            } => (!is_valid(value)).then(|| format!("{path} is not a valid {name}")),
            MetaType::Enum { enum_values, .. } => match value {
                ConstValue::Enum(v) if enum_values.contains_key(v.as_str()) => None,
                ConstValue::String(v) if enum_values.contains_key(v.as_str()) => None,
                ConstValue::Enum(v) => Some(format!("{path}: {name} has no value {v}")),
                ConstValue::String(v) => Some(format!("{path}: {name} has no value {v}")),
                _ => expected(),
            },
            MetaType::InputObject {
                input_fields,
                oneof,
                ..
            } => {
                let ConstValue::Object(fields) = value else {
                    return expected();
                };
                if *oneof && (fields.len() != 1 || fields.values().any(|v| *v == ConstValue::Null))
                {
                    return Some(format!("{path} must have exactly one field, not null"));
                }
                if let Some(unknown) = fields
                    .keys()
                    .find(|k| !input_fields.contains_key(k.as_str()))
                {
                    return Some(format!("{path}: {name} has no field {unknown}"));
                }
                input_fields.values().find_map(|field| {
                    let len = path.len();
                    let _ = write!(path, ".{}", field.name);
                    let problem = match fields.get(field.name.as_str()) {
                        Some(v) => self.problem(&field.ty, v, path),
                        None if MetaTypeName::create(&field.ty).is_non_null()
                            && field.default_value.is_none() =>
                        {
                            Some(format!("{path} of type {} is required", field.ty))
                        }
                        None => None,
                    };
                    path.truncate(len);
                    problem
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::DocumentOperations;
    use serde_json::json;

    fn check(document: &str, variables: serde_json::Value) -> Result<(), String> {
        let document = parse_query(document).unwrap();
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one anonymous operation")
        };
        InputTypes::of_schema()
            .check(&operation.node, &Variables::from_json(variables))
            .map_err(|e| e.message)
    }

    const ADD: &str = "mutation($lines: [CartLineInput!]!, $cart: String) { addCartLines(input: {cart: $cart, lines: $lines}) { cart { version } } }";

    #[test]
    fn values_of_the_declared_types_pass() {
        let lines = json!([{"sku": "MUG", "quantity": 2}]);
        assert_eq!(check(ADD, json!({ "lines": lines })), Ok(()));
        assert_eq!(check(ADD, json!({ "lines": lines, "cart": null })), Ok(()));
        // One value where a list is expected is a list of one.
        let one = json!({"sku": "MUG", "quantity": 2});
        assert_eq!(check(ADD, json!({ "lines": one })), Ok(()));
        let defaulted = "query($first: Int = 5) { products(first: $first) { edges { cursor } } }";
        assert_eq!(check(defaulted, json!({})), Ok(()));
    }

    #[test]
    fn a_required_variable_must_be_given_and_not_null() {
        let missing = check(ADD, json!({})).unwrap_err();
        assert!(missing.contains("\"$lines\" of required type"), "{missing}");
        let null = check(ADD, json!({ "lines": null })).unwrap_err();
        assert!(null.contains("$lines must not be null"), "{null}");
        let item = check(ADD, json!({ "lines": [null] })).unwrap_err();
        assert!(item.contains("$lines[0] must not be null"), "{item}");
    }

    #[test]
    fn wrong_scalars_fields_and_enum_values_are_named_by_their_place() {
        let text = check(ADD, json!({ "lines": [{"sku": "MUG", "quantity": "2"}] })).unwrap_err();
        assert!(
            text.contains("$lines[0].quantity is not a valid Int"),
            "{text}"
        );
        let unknown = check(
            ADD,
            json!({ "lines": [{"sku": "MUG", "quantity": 1, "x": 1}] }),
        )
        .unwrap_err();
        assert!(unknown.contains("has no field x"), "{unknown}");
        let absent = check(ADD, json!({ "lines": [{"quantity": 1}] })).unwrap_err();
        assert!(
            absent.contains("$lines[0].sku of type String! is required"),
            "{absent}"
        );
        let not_object = check(ADD, json!({ "lines": ["MUG"] })).unwrap_err();
        assert!(
            not_object.contains("$lines[0] is not a valid CartLineInput"),
            "{not_object}"
        );
    }

    #[test]
    fn only_an_operation_with_every_variable_given_counts_as_fully_validated() {
        let document = parse_query(ADD).unwrap();
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one anonymous operation")
        };
        let given = Variables::from_json(json!({ "lines": [], "cart": null }));
        assert!(InputTypes::all_given(&operation.node, &given));
        let partly = Variables::from_json(json!({ "lines": [] }));
        assert!(!InputTypes::all_given(&operation.node, &partly));
    }
}
