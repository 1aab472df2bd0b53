//! `infra/template.yaml` agrees with the code: table shape, queues and their redrive, every SQS source
//! reporting batch item failures, visibility ≥ 6× timeout, and the routes the local stack serves.
//! cfn-lint checks the syntax; this checks what cfn-lint cannot.

use local_stack::Trigger;
use std::collections::BTreeSet;

use integration_tests::root;
use serde_yaml::Value;
use shared::{queue::schema::QUEUES, store::schema::TABLE};

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join("infra/template.yaml")).unwrap()).unwrap()
}

/// The plain value of `!Ref X` / `!GetAtt X.Arn`, or the string itself.
fn untag(value: &Value) -> &str {
    match value {
        Value::Tagged(tagged) => tagged.value.as_str().unwrap_or_default(),
        other => other.as_str().unwrap_or_default(),
    }
}

struct Function<'a> {
    binary: String,
    timeout: u64,
    properties: &'a Value,
}

fn functions(template: &Value) -> Vec<Function<'_>> {
    let default_timeout = template["Globals"]["Function"]["Timeout"].as_u64().unwrap_or(3);
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .map(|r| Function {
            binary: r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap().to_owned(),
            timeout: r["Properties"]["Timeout"].as_u64().unwrap_or(default_timeout),
            properties: &r["Properties"],
        })
        .collect()
}

fn events<'a>(function: &Function<'a>, kind: &str) -> Vec<&'a Value> {
    function.properties["Events"]
        .as_mapping()
        .map(|m| m.values().filter(|e| e["Type"] == kind).map(|e| &e["Properties"]).collect())
        .unwrap_or_default()
}

#[test]
fn every_function_crate_is_in_the_template_and_nothing_else_is() {
    let template = template();
    let in_template: BTreeSet<String> = functions(&template).into_iter().map(|f| f.binary).collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(in_template, crates);
}

#[test]
fn the_table_matches_the_schema_the_code_creates() {
    let template = template();
    let table = &template["Resources"]["OrdersTable"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"], TABLE.ttl_attribute);
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    let keys: Vec<&str> =
        table["KeySchema"].as_sequence().unwrap().iter().map(|k| k["AttributeName"].as_str().unwrap()).collect();
    assert_eq!(keys, [TABLE.partition_key, TABLE.sort_key]);
    let defined: BTreeSet<&str> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    assert_eq!(defined, TABLE.key_attributes().into_iter().collect());
    let gsis: Vec<(String, String, String)> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|g| {
            assert_eq!(g["Projection"]["ProjectionType"], "ALL");
            let schema = g["KeySchema"].as_sequence().unwrap();
            (
                g["IndexName"].as_str().unwrap().to_owned(),
                schema[0]["AttributeName"].as_str().unwrap().to_owned(),
                schema[1]["AttributeName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> =
        TABLE.gsis.iter().map(|g| (g.name.into(), g.partition_key.into(), g.sort_key.into())).collect();
    assert_eq!(gsis, expected);
}

#[test]
fn every_queue_source_reports_batch_failures_and_outlives_its_worker() {
    let template = template();
    let resources = &template["Resources"];
    let mut seen = 0;
    for function in functions(&template) {
        for source in events(&function, "SQS") {
            seen += 1;
            let types: Vec<&str> = source["FunctionResponseTypes"]
                .as_sequence()
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert!(types.contains(&"ReportBatchItemFailures"), "{} lacks ReportBatchItemFailures", function.binary);
            let queue_name = untag(&source["Queue"]).trim_end_matches(".Arn");
            let queue = &resources[queue_name]["Properties"];
            let visibility = queue["VisibilityTimeout"].as_u64().unwrap();
            assert!(
                visibility >= 6 * function.timeout,
                "{queue_name}: visibility {visibility} < 6 × {}",
                function.timeout
            );
            let def = QUEUES
                .iter()
                .find(|d| {
                    local_stack::registry::triggers()
                        .any(|(worker, t)| t == Trigger::Queue(d.stage) && worker == function.binary)
                })
                .unwrap_or_else(|| panic!("{} consumes a queue the code does not declare", function.binary));
            assert_eq!(visibility, u64::from(def.visibility_timeout_seconds));
            assert_eq!(function.timeout, u64::from(def.worker_timeout_seconds));
            assert_eq!(queue["RedrivePolicy"]["maxReceiveCount"].as_u64(), Some(u64::from(def.max_receive_count)));
            let dlq = untag(&queue["RedrivePolicy"]["deadLetterTargetArn"]).trim_end_matches(".Arn");
            assert_eq!(resources[dlq]["Type"], "AWS::SQS::Queue", "{queue_name} has a dead-letter queue");
        }
    }
    assert_eq!(seen, local_stack::registry::triggers().filter(|(_, t)| matches!(t, Trigger::Queue(_))).count());
}

#[test]
fn the_local_stack_serves_exactly_the_template_routes_and_schedules() {
    let template = template();
    let mut routes = BTreeSet::new();
    let mut scheduled = BTreeSet::new();
    for function in functions(&template) {
        for api in events(&function, "HttpApi") {
            routes.insert((
                api["Method"].as_str().unwrap().to_owned(),
                api["Path"].as_str().unwrap().to_owned(),
                function.binary.clone(),
            ));
        }
        if !events(&function, "Schedule").is_empty() {
            scheduled.insert(function.binary.clone());
        }
    }
    let local: BTreeSet<(String, String, String)> = local_stack::registry::http_routes()
        .iter()
        .map(|(m, p, f)| (m.to_string(), p.to_string(), f.to_string()))
        .collect();
    assert_eq!(routes, local);
    let local_scheduled: BTreeSet<String> =
        local_stack::registry::triggers().filter(|(_, t)| *t == Trigger::Schedule).map(|(f, _)| f.to_owned()).collect();
    assert_eq!(scheduled, local_scheduled);
}

#[test]
fn functions_log_json_and_the_template_holds_no_secret_values() {
    let template = template();
    assert_eq!(template["Globals"]["Function"]["LoggingConfig"]["LogFormat"], "JSON");
    assert_eq!(template["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(template["Globals"]["Function"]["Architectures"][0], "arm64");
    for name in ["ShopifyApiSecret", "ShopifyApiSecretPrevious"] {
        let parameter = &template["Parameters"][name];
        assert_eq!(parameter["NoEcho"], true, "{name}");
        assert!(parameter["Default"].as_str().unwrap_or_default().is_empty(), "{name} has no default secret");
    }
}

#[test]
fn streaming_routes_have_a_streaming_function_url() {
    let template = template();
    let streaming: BTreeSet<String> = functions(&template)
        .into_iter()
        .filter(|f| f.properties["FunctionUrlConfig"]["InvokeMode"] == "RESPONSE_STREAM")
        .map(|f| f.binary)
        .collect();
    let local: BTreeSet<String> = local_stack::registry::triggers()
        .filter(|(_, t)| matches!(t, Trigger::Stream(..)))
        .map(|(f, _)| f.to_owned())
        .collect();
    assert_eq!(streaming, local);
}

#[test]
fn every_queue_sets_its_maximum_message_size_and_big_bodies_have_a_claim_check_bucket() {
    use shared::queue::{claims::BUCKET_ENV, schema::MAX_MESSAGE_BYTES};
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let queues: Vec<_> = resources.iter().filter(|(_, r)| r["Type"] == "AWS::SQS::Queue").collect();
    assert!(queues.len() >= 2 * QUEUES.len());
    for (name, queue) in queues {
        assert_eq!(
            queue["Properties"]["MaximumMessageSize"].as_u64(),
            Some(u64::from(MAX_MESSAGE_BYTES)),
            "{name:?} sets MaximumMessageSize explicitly"
        );
    }
    let bucket = &template["Resources"]["PayloadBucket"];
    assert_eq!(bucket["Type"], "AWS::S3::Bucket");
    let rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"].as_sequence().unwrap();
    let expiry = rules[0]["ExpirationInDays"].as_u64().unwrap();
    assert!(expiry > 14, "claimed bodies outlive the queues' 14-day retention");
    for binary in ["shopify-webhook", "ingest-worker"] {
        let function = functions(&template).into_iter().find(|f| f.binary == binary).unwrap();
        let variable = &function.properties["Environment"]["Variables"][BUCKET_ENV];
        assert_eq!(untag(variable), "PayloadBucket", "{binary} names the claim-check bucket");
        let policies = serde_yaml::to_string(&function.properties["Policies"]).unwrap();
        let action = if binary == "shopify-webhook" { "s3:PutObject" } else { "s3:GetObject" };
        assert!(policies.contains(action), "{binary} may {action}");
    }
}

#[test]
fn streams_have_their_own_concurrency_and_cannot_starve_the_webhook() {
    let template = template();
    let reserved = |binary: &str| {
        let function = functions(&template).into_iter().find(|f| f.binary == binary).unwrap();
        function.properties["ReservedConcurrentExecutions"].as_u64()
    };
    let streams = reserved("alerts-stream").expect("alerts-stream reserves (and so caps) its concurrency");
    let webhook = reserved("shopify-webhook").expect("shopify-webhook reserves its concurrency");
    assert!(streams > 0 && webhook > 0);
    let stream = functions(&template).into_iter().find(|f| f.binary == "alerts-stream").unwrap();
    let per_shop = stream.properties["Environment"]["Variables"]["ALERT_STREAM_MAX_PER_SHOP"].as_str().unwrap();
    assert!(per_shop.parse::<u64>().unwrap() <= streams, "one shop can never hold every stream");
}

/// The KMS actions of `function`'s policies, each with the integration its condition allows.
fn kms_grants(function: &Function<'_>) -> Vec<(String, Option<String>)> {
    let mut grants = Vec::new();
    for policy in function.properties["Policies"].as_sequence().into_iter().flatten() {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            let actions: Vec<&str> =
                statement["Action"].as_sequence().into_iter().flatten().filter_map(Value::as_str).collect();
            for action in actions.into_iter().filter(|a| a.starts_with("kms:")) {
                let allowed = statement["Condition"]["StringEquals"]["kms:EncryptionContext:integration"]
                    .as_str()
                    .map(str::to_owned);
                grants.push((action.to_owned(), allowed));
            }
        }
    }
    grants
}

#[test]
fn each_function_opens_only_its_own_integrations_credentials() {
    use shared::domain::Integration;
    let template = template();
    // Which integration's sealed credentials each function may use (every seal names its integration
    // in the encryption context: `app::credentials::context`).
    let expected = |binary: &str| -> &[Integration] {
        match binary {
            "ingest-worker" | "dashboard-api" | "assistant-api" | "shopify-poller" => &[Integration::Shopify],
            "outbound-worker" => &[Integration::Shopify, Integration::MasonHub, Integration::CommerceOs],
            "fulfilment-api" => {
                &[Integration::Shopify, Integration::Amazon, Integration::MasonHub, Integration::CommerceOs]
            }
            "reconciler" => {
                &[Integration::Shopify, Integration::Amazon, Integration::MasonHub, Integration::CommerceOs]
            }
            "amazon-api" | "amazon-poller" => &[Integration::Amazon],
            _ => &[],
        }
    };
    for function in functions(&template) {
        // Every KMS statement carries a condition, and together they name exactly these integrations.
        let allowed: BTreeSet<Option<String>> = kms_grants(&function).into_iter().map(|(_, allowed)| allowed).collect();
        let wanted: BTreeSet<Option<String>> =
            expected(&function.binary).iter().map(|i| Some(i.as_str().to_owned())).collect();
        assert_eq!(allowed, wanted, "{}'s KMS grants", function.binary);
    }
    let shop = shared::domain::ShopDomain::parse("a.myshopify.com").unwrap();
    let sealed = shared::app::credentials::context(&shop, Integration::Amazon, "refresh_token");
    assert!(sealed.contains(&("integration", "amazon")), "the condition's key is in every context");
}

#[test]
fn the_shopify_app_secret_comes_from_secrets_manager() {
    let template = template();
    assert_eq!(template["Resources"]["ShopifyAppSecret"]["Type"], "AWS::SecretsManager::Secret");
    let mut readers = 0;
    for function in functions(&template) {
        let variables = &function.properties["Environment"]["Variables"];
        for plain in ["SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET_PREVIOUS"] {
            assert!(variables[plain].is_null(), "{} has {plain} in plain text", function.binary);
        }
        if variables[shared::aws::APP_SECRET_ID_ENV].is_null() {
            continue;
        }
        readers += 1;
        assert_eq!(untag(&variables[shared::aws::APP_SECRET_ID_ENV]), "ShopifyAppSecret");
        let policies = serde_yaml::to_string(&function.properties["Policies"]).unwrap();
        assert!(policies.contains("secretsmanager:GetSecretValue"), "{} may read the secret", function.binary);
        let lib = std::fs::read_to_string(root().join("functions").join(&function.binary).join("src/lib.rs")).unwrap();
        assert!(lib.contains("function_env()"), "{} resolves the secret at cold start", function.binary);
    }
    // Every function that verifies webhooks or session tokens reads it.
    for function in functions(&template) {
        let lib = std::fs::read_to_string(root().join("functions").join(&function.binary).join("src/lib.rs")).unwrap();
        if lib.contains("ShopifyAppConfig") || lib.contains("InstallConfig") {
            let variables = &function.properties["Environment"]["Variables"];
            assert!(!variables[shared::aws::APP_SECRET_ID_ENV].is_null(), "{} reads the app secret", function.binary);
        }
    }
    assert!(readers >= 5);
}

/// The queues `function` may send to: every resource of its `sqs:SendMessage` statements.
fn send_grants(function: &Function<'_>) -> BTreeSet<String> {
    let mut queues = BTreeSet::new();
    for policy in function.properties["Policies"].as_sequence().into_iter().flatten() {
        for statement in policy["Statement"].as_sequence().into_iter().flatten() {
            if !statement["Action"].as_sequence().into_iter().flatten().any(|a| a == "sqs:SendMessage") {
                continue;
            }
            let resources = match &statement["Resource"] {
                Value::Sequence(list) => list.iter().collect(),
                one => vec![one],
            };
            queues.extend(resources.into_iter().map(|r| untag(r).trim_end_matches(".Arn").to_owned()));
        }
    }
    queues
}

#[test]
fn every_queue_a_function_names_it_may_send_to_and_order_changers_reach_every_destination() {
    let template = template();
    for function in functions(&template) {
        let variables = &function.properties["Environment"]["Variables"];
        let granted = send_grants(&function);
        for def in QUEUES {
            let queue = untag(&variables[def.url_env]);
            if !queue.is_empty() {
                assert!(granted.contains(queue), "{} has {} but may not send to {queue}", function.binary, def.url_env);
            }
        }
        // A function that commits order changes relays their effects to every outbound destination.
        let lib = std::fs::read_to_string(root().join("functions").join(&function.binary).join("src/lib.rs")).unwrap();
        if lib.contains("schema::outbound_stages()") {
            for def in QUEUES.iter().filter(|d| matches!(d.stage, shared::queue::Stage::Outbound(_))) {
                assert!(
                    !variables[def.url_env].is_null(),
                    "{} relays to {} but lacks it",
                    function.binary,
                    def.url_env
                );
            }
        }
    }
}

#[test]
fn each_partner_workers_share_of_the_pace_matches_its_queue_concurrency() {
    let template = template();
    let mut checked = 0;
    for function in functions(&template) {
        let variables = &function.properties["Environment"]["Variables"];
        for def in QUEUES {
            let shared::queue::Stage::Outbound(partner) = def.stage else { continue };
            let workers = format!("{}_WORKERS", partner.as_str().to_ascii_uppercase());
            let rate = format!("{}_RATE_PER_SECOND", partner.as_str().to_ascii_uppercase());
            if variables[rate.as_str()].is_null() {
                continue;
            }
            let source = events(&function, "SQS")
                .into_iter()
                .find(|e| untag(&e["Queue"]).trim_end_matches(".Arn") == untag(&variables[def.url_env]))
                .unwrap_or_else(|| panic!("{} paces {partner} but does not consume its queue", function.binary));
            let concurrency = source["ScalingConfig"]["MaximumConcurrency"].as_u64().expect("a capped source");
            let declared: u64 = variables[workers.as_str()].as_str().and_then(|w| w.parse().ok()).expect(&workers);
            assert_eq!(declared, concurrency, "{}: {workers} vs the queue's MaximumConcurrency", function.binary);
            checked += 1;
        }
    }
    assert!(checked > 0, "MasonHub is paced");
}

/// The template's CloudWatch alarms.
fn alarms(template: &Value) -> Vec<&Value> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|r| &r["Properties"])
        .collect()
}

#[test]
fn seed_004s_monitoring_targets_are_alarms_on_every_queue_and_partner() {
    let template = template();
    let alarms = alarms(&template);
    // Queue depth > 1000 on every queue the code declares.
    for def in QUEUES {
        // The queue resource whose URL the functions get for this stage.
        let queue = functions(&template)
            .iter()
            .find_map(|f| {
                let value = &f.properties["Environment"]["Variables"][def.url_env];
                (!value.is_null()).then(|| untag(value).to_owned())
            })
            .unwrap_or_else(|| panic!("no function names {}", def.url_env));
        let depth = alarms.iter().find(|a| {
            a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && untag(&a["Dimensions"][0]["Value"]).trim_end_matches(".QueueName") == queue
                && a["Threshold"].as_u64() == Some(1000)
        });
        assert!(depth.is_some(), "a depth alarm on {queue}");
    }
    // Latency > 500 ms and error rate > 1 % for every partner the clients report (`shared::metrics`).
    let partners: &[&str] = &[shared::integrations::masonhub::MASONHUB, shared::integrations::commerceos::COMMERCEOS];
    for &partner in partners {
        let latency = alarms
            .iter()
            .find(|a| a["MetricName"] == shared::metrics::PARTNER_LATENCY && a["Dimensions"][0]["Value"] == partner);
        assert_eq!(latency.and_then(|a| a["Threshold"].as_u64()), Some(500), "{partner} latency");
        assert_eq!(latency.unwrap()["Namespace"], shared::metrics::NAMESPACE);
        let rate = alarms.iter().find(|a| {
            serde_yaml::to_string(&a["Metrics"]).unwrap().contains(shared::metrics::PARTNER_ERRORS)
                && serde_yaml::to_string(&a["Metrics"]).unwrap().contains(&format!("Value: {partner}"))
        });
        assert_eq!(rate.and_then(|a| a["Threshold"].as_u64()), Some(1), "{partner} error rate");
    }
}

/// Outbound destinations retry on their ladder as new delayed messages: the queue must keep a message
/// for the whole ladder (retention, explicit or SQS's default of 4 days), and the redrive must not be
/// what ends the retries (each rung is a new message, so the receive count starts again).
#[test]
fn outbound_queues_keep_messages_for_their_whole_retry_ladder() {
    use shared::{app::outbound::ladder, domain::Integration};
    let template = template();
    let resources = &template["Resources"];
    for (destination, resource) in
        [(Integration::Shopify, "OutboundShopifyQueue"), (Integration::MasonHub, "OutboundMasonHubQueue")]
    {
        let queue = &resources[resource]["Properties"];
        let retention = queue["MessageRetentionPeriod"].as_u64().unwrap_or(345_600);
        let span = u64::try_from(ladder(destination).span().num_seconds()).unwrap();
        assert!(retention > 2 * span, "{resource}: retention {retention} s vs a {span} s ladder");
        assert!(queue["DelaySeconds"].as_u64().unwrap_or(0) == 0, "{resource}: the ladder sets the delays");
    }
    assert!(ladder(Integration::Shopify).span() >= chrono::Duration::hours(4), "past Shopify's own window");
}
