//! The published contract: the OpenAPI subset in the shared contracts folder,
//! loaded at test time, turned into JSON Schema (draft 4, which OpenAPI 3.0's
//! schema dialect is based on) with the documented known deviations applied, and
//! used to check every request the adapter sends and every answer the fake gives.
//!
//! Deviations applied (numbers of the contracts README's table):
//! 1. `result` dropped from `d1_api-response-common` and `r2_v4_response`;
//! 2. R2 list's `result` is `{"buckets": [bucket]}`;
//! 3. error answers are checked against the operation's `*-failure` schema only;
//! 4. custom-hostname identifiers may be 36 characters (UUIDs);
//! 5. DNS request bodies do not require `id`, `proxiable`, `created_on`,
//!    `modified_on`;
//! 6. D1 `params` may hold strings, numbers and `null` (the adapter's decision);
//! 7. D1 raw cells may be `null`;
//! 8. a Worker upload's `metadata` part is checked against the first `oneOf`
//!    branch's `metadata` schema;
//! 9. `usage_model` may be `standard`;
//! 10. a KV value may be written as a raw `application/octet-stream` body, with
//!     the `expiration` and `expiration_ttl` query parameters;
//! 11. custom hostnames are created with `ssl` (kept required: no change);
//! 12. DELETE needs no body;
//! 13. a Worker script download is not checked (its media type is `undefined`);
//! 14. names are generated lowercase (no change).
//!
//! Also applied, from the README's list of later additions: D1's
//! `{"batch": [{sql, params}]}` request form, each item checked as a single
//! query. OpenAPI's `nullable: true` becomes `anyOf [schema, {"type": "null"}]`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value as Json, json};

/// Where the contract lives: `../shared/contracts/` next to the workspace root,
/// or the file named by `NEUTRINO_CLOUDFLARE_CONTRACT` (a checkout kept
/// elsewhere).
pub fn contract_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NEUTRINO_CLOUDFLARE_CONTRACT") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..");
    root.join("..")
        .join("shared")
        .join("contracts")
        .join("cloudflare-openapi-subset.json")
}

/// One operation of the contract.
#[derive(Debug)]
pub struct Operation {
    pub id: String,
    pub method: String,
    pub template: Vec<String>,
    pub raw: Json,
}

/// The contract, loaded and prepared once per test binary.
pub struct Contract {
    pub ops: Vec<Operation>,
    /// Components for checking answers (read side).
    read_components: Json,
    /// Components for checking requests (write side, deviation 5).
    write_components: Json,
    cache: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static CONTRACT: OnceLock<Contract> = OnceLock::new();

pub fn contract() -> &'static Contract {
    CONTRACT.get_or_init(|| {
        let path = contract_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the cloudflare contract is required by these tests and could not be read \
                 from {}: {e}",
                path.display()
            )
        });
        let doc: Json = serde_json::from_str(&text).expect("the contract is valid json");
        Contract::new(doc)
    })
}

/// OpenAPI `nullable: true` as JSON Schema.
fn convert_nullable(v: &mut Json) {
    match v {
        Json::Object(m) => {
            for (_, child) in m.iter_mut() {
                convert_nullable(child);
            }
            if m.remove("nullable") == Some(Json::Bool(true)) {
                let inner = Json::Object(std::mem::take(m));
                m.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
        Json::Array(a) => a.iter_mut().for_each(convert_nullable),
        _ => {}
    }
}

fn strip_required(v: &mut Json, names: &[&str]) {
    match v {
        Json::Object(m) => {
            if let Some(Json::Array(req)) = m.get_mut("required") {
                req.retain(|r| !names.iter().any(|n| r.as_str() == Some(n)));
            }
            for (_, child) in m.iter_mut() {
                strip_required(child, names);
            }
        }
        Json::Array(a) => a.iter_mut().for_each(|c| strip_required(c, names)),
        _ => {}
    }
}

impl Contract {
    fn new(doc: Json) -> Self {
        let mut components = doc["components"].clone();
        {
            let s = &mut components["schemas"];
            // 1. the common envelopes' `result: object` conflicts with arrays/null.
            for name in ["d1_api-response-common", "r2_v4_response"] {
                let sch = &mut s[name];
                if let Some(p) = sch["properties"].as_object_mut() {
                    p.remove("result");
                }
                if let Some(r) = sch["required"].as_array_mut() {
                    r.retain(|x| x != "result");
                }
            }
            // 4. custom hostname ids are UUIDs.
            s["tls-certificates-and-hostnames_identifier"]["maxLength"] = json!(36);
            // 6. the adapter's decision: strings, numbers and null.
            s["d1_params"]["items"] = json!({"type": ["string", "number", "null"]});
            // 7. SQL NULL cells.
            s["d1_raw-result-response"]["properties"]["results"]["properties"]["rows"]["items"]
                ["items"]["anyOf"]
                .as_array_mut()
                .expect("raw cell anyOf")
                .push(json!({"type": "null"}));
            // 9. usage model.
            s["workers_usage_model"]["pattern"] = json!("^(bundled|unbound|standard)$");
        }
        convert_nullable(&mut components);
        let read_components = components.clone();
        let mut write_components = components;
        // 5. DNS request bodies.
        for (name, sch) in write_components["schemas"]
            .as_object_mut()
            .expect("schemas")
            .iter_mut()
        {
            if name.starts_with("dns-records_") {
                strip_required(sch, &["id", "proxiable", "created_on", "modified_on"]);
            }
        }
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                let mut op = op.clone();
                convert_nullable(&mut op);
                ops.push(Operation {
                    id: op["operationId"].as_str().expect("operationId").to_owned(),
                    method: method.to_uppercase(),
                    template: path
                        .trim_start_matches('/')
                        .split('/')
                        .map(str::to_owned)
                        .collect(),
                    raw: op,
                });
            }
        }
        Self {
            ops,
            read_components,
            write_components,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The operation for `method` and the decoded path segments, with its path
    /// parameters.
    pub fn route(
        &self,
        method: &str,
        segments: &[String],
    ) -> Option<(&Operation, HashMap<String, String>)> {
        'ops: for op in &self.ops {
            if op.method != method || op.template.len() != segments.len() {
                continue;
            }
            let mut params = HashMap::new();
            for (t, s) in op.template.iter().zip(segments) {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if s.is_empty() {
                        continue 'ops;
                    }
                    params.insert(name.to_owned(), s.clone());
                } else if t != s {
                    continue 'ops;
                }
            }
            return Some((op, params));
        }
        None
    }

    /// Checks `instance` against `schema` (with `$ref`s into the components):
    /// the list of violations, empty when it conforms.
    pub fn check(&self, key: &str, schema: &Json, write: bool, instance: &Json) -> Vec<String> {
        let cache_key = format!("{}:{key}", if write { "w" } else { "r" });
        let validator = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = cache.get(&cache_key) {
                v.clone()
            } else {
                let components = if write {
                    &self.write_components
                } else {
                    &self.read_components
                };
                let root = json!({ "allOf": [schema], "components": components });
                let v = match jsonschema::draft4::new(&root) {
                    Ok(v) => Arc::new(v),
                    Err(e) => return vec![format!("contract schema {key} does not compile: {e}")],
                };
                cache.insert(cache_key, v.clone());
                v
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| format!("{key}: {} at {}", e, e.instance_path()))
            .collect()
    }
}

impl Operation {
    /// The declared parameters (`in`, name, schema, required).
    pub fn params(&self) -> Vec<(String, String, Json, bool)> {
        self.raw["parameters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        (
                            p["in"].as_str().unwrap_or_default().to_owned(),
                            p["name"].as_str().unwrap_or_default().to_owned(),
                            p["schema"].clone(),
                            p["required"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The request body's media types and schemas.
    pub fn body_schema(&self, media: &str) -> Option<Json> {
        let content = &self.raw["requestBody"]["content"];
        let content = if let Some(r) = self.raw["requestBody"]["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap_or_default();
            &contract_body(name)["content"]
        } else {
            content
        };
        content.get(media).map(|m| m["schema"].clone())
    }

    pub fn has_body(&self) -> bool {
        self.raw.get("requestBody").is_some()
    }

    pub fn media_types(&self) -> Vec<String> {
        let content = if let Some(r) = self.raw["requestBody"]["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap_or_default();
            contract_body(name)["content"].clone()
        } else {
            self.raw["requestBody"]["content"].clone()
        };
        content
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The answer schema for a status: the `200` schema, or for errors the
    /// `*-failure` schema inside `4XX` (deviation 3).
    pub fn response_schema(&self, status: u16) -> Option<Json> {
        if (200..300).contains(&status) {
            if self.id == "r2-list-buckets" {
                // 2. the live shape.
                return Some(json!({
                    "allOf": [
                        {"$ref": "#/components/schemas/r2_v4_response_list"},
                        {"properties": {"result": {"type": "object", "required": ["buckets"],
                            "properties": {"buckets": {"type": "array",
                                "items": {"$ref": "#/components/schemas/r2_bucket"}}}}}}
                    ]
                }));
            }
            let content = &self.raw["responses"]["200"]["content"];
            // A declared answer without a schema allows any body.
            return content
                .get("application/json")
                .map(|m| m.get("schema").cloned().unwrap_or_else(|| json!({})));
        }
        let declared = self.raw["responses"]["4XX"]["content"].get("application/json")?;
        match declared.get("schema") {
            Some(schema) => find_failure_ref(schema).map(|r| json!({ "$ref": r })),
            None => Some(json!({})),
        }
    }
}

fn find_failure_ref(v: &Json) -> Option<String> {
    match v {
        Json::Object(m) => {
            if let Some(Json::String(r)) = m.get("$ref")
                && r.ends_with("failure")
            {
                return Some(r.clone());
            }
            m.values().find_map(find_failure_ref)
        }
        Json::Array(a) => a.iter().find_map(find_failure_ref),
        _ => None,
    }
}

fn contract_body(name: &str) -> Json {
    let path = contract_path();
    let text = std::fs::read_to_string(&path).expect("contract");
    let doc: Json = serde_json::from_str(&text).expect("contract json");
    let mut body = doc["components"]["requestBodies"][name].clone();
    convert_nullable(&mut body);
    body
}
