//! The bundle's own CloudWatch metrics, in the Embedded Metric Format: one JSON document per line on
//! stdout, which CloudWatch Logs turns into metrics without an API call (and without latency on the
//! request path). `infra/template.yaml` alarms on them (seed 004's monitoring targets).

use std::time::Duration;

use serde_json::{Value, json};

/// The namespace of the bundle's metrics.
pub const NAMESPACE: &str = "OrderSync";
/// One partner request's duration, in milliseconds, by `Partner`.
pub const PARTNER_LATENCY: &str = "PartnerLatency";
/// Partner requests, by `Partner`.
pub const PARTNER_CALLS: &str = "PartnerCalls";
/// Partner requests that failed on the partner's side (no answer, a timeout, 429 or 5xx), by `Partner`.
pub const PARTNER_ERRORS: &str = "PartnerErrors";

/// The EMF document of one partner request taking `elapsed` at `timestamp_ms`.
pub fn partner_call_document(partner: &str, elapsed: Duration, failed: bool, timestamp_ms: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Partner"]],
                "Metrics": [
                    { "Name": PARTNER_LATENCY, "Unit": "Milliseconds" },
                    { "Name": PARTNER_CALLS, "Unit": "Count" },
                    { "Name": PARTNER_ERRORS, "Unit": "Count" },
                ],
            }],
        },
        "Partner": partner,
        PARTNER_LATENCY: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        PARTNER_CALLS: 1,
        PARTNER_ERRORS: u8::from(failed),
    })
}

/// Emits one partner request's metrics: a line of its own on stdout, beside the JSON logs (a lost line
/// loses a sample, never the request).
pub fn partner_call(partner: &str, elapsed: Duration, failed: bool) {
    use std::io::Write;
    let now = chrono::Utc::now().timestamp_millis();
    let _ = writeln!(std::io::stdout().lock(), "{}", partner_call_document(partner, elapsed, failed, now));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_call_is_an_emf_document_cloudwatch_can_read() {
        let doc = partner_call_document("masonhub", Duration::from_millis(612), true, 1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Partner"]]));
        // Every metric the directive names is a number at the top level, beside its dimension.
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            assert!(doc[metric["Name"].as_str().unwrap_or_default()].is_number(), "{metric}");
        }
        assert_eq!((doc["Partner"].as_str(), doc[PARTNER_LATENCY].as_u64()), (Some("masonhub"), Some(612)));
        assert_eq!((doc[PARTNER_CALLS].as_u64(), doc[PARTNER_ERRORS].as_u64()), (Some(1), Some(1)));
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
    }
}
