//! The table's shape, declared once. The local stack and the tests create the table from this, and a
//! test checks `infra/template.yaml` against it, so the three cannot drift apart.

use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TimeToLiveSpecification,
    },
};

use super::keys;
use crate::error::StoreError;

/// A global secondary index: name, partition key, sort key. All project every attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gsi {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// The single table: `PK`/`SK` strings, overloaded GSIs, and a `ttl` attribute.
pub struct TableSchema {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub gsis: &'static [Gsi],
    pub ttl_attribute: &'static str,
}

pub const TABLE: TableSchema = TableSchema {
    partition_key: keys::PK,
    sort_key: keys::SK,
    gsis: &[
        Gsi { name: keys::GSI1, partition_key: keys::GSI1PK, sort_key: keys::GSI1SK },
        Gsi { name: keys::GSI2, partition_key: keys::GSI2PK, sort_key: keys::GSI2SK },
    ],
    ttl_attribute: keys::TTL,
};

impl TableSchema {
    /// Every attribute that appears in a key, each once.
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for gsi in self.gsis {
            names.extend([gsi.partition_key, gsi.sort_key]);
        }
        names
    }
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| StoreError::unavailable("key schema", e))
}

/// Creates the table (on-demand, with its GSIs and TTL) unless it exists. For the local stack and
/// tests; in AWS the SAM template creates it.
pub async fn create_table(client: &Client, table_name: &str) -> Result<(), StoreError> {
    let mut request = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(TABLE.partition_key, KeyType::Hash)?)
        .key_schema(key(TABLE.sort_key, KeyType::Range)?);
    for name in TABLE.key_attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::unavailable("attribute definition", e))?,
        );
    }
    for gsi in TABLE.gsis {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(gsi.name)
                .key_schema(key(gsi.partition_key, KeyType::Hash)?)
                .key_schema(key(gsi.sort_key, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(|e| StoreError::unavailable("gsi definition", e))?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
            return Ok(());
        }
        Err(e) => return Err(StoreError::unavailable("create table", e)),
    }
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TABLE.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(|e| StoreError::unavailable("ttl specification", e))?,
        )
        .send()
        .await
        .map_err(|e| StoreError::unavailable("enable ttl", e))?;
    Ok(())
}
