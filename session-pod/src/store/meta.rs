//! Small per-session settings kept as JSON strings.

use rusqlite::{OptionalExtension, params};

use super::{GatewayStore, StoreError};

#[derive(Debug, Clone, Copy)]
pub enum MetaKey {
    CreatedAt,
    Webhook,
    Labels,
    Phone,
    PushName,
    LastConnected,
    Settings,
}

impl MetaKey {
    fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::Webhook => "webhook",
            Self::Labels => "labels",
            Self::Phone => "phone",
            Self::PushName => "push_name",
            Self::LastConnected => "last_connected",
            Self::Settings => "settings",
        }
    }
}

impl GatewayStore {
    pub async fn meta_get<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        key: MetaKey,
    ) -> Result<Option<T>, StoreError> {
        let raw: Option<String> = self
            .call(move |c| {
                c.query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [key.as_str()],
                    |r| r.get(0),
                )
                .optional()
            })
            .await?;
        // A value written by an older layout is treated as unset rather than fatal.
        Ok(raw.and_then(|s| serde_json::from_str(&s).ok()))
    }

    pub async fn meta_set<T: serde::Serialize>(
        &self,
        key: MetaKey,
        value: Option<&T>,
    ) -> Result<(), StoreError> {
        let json = value.map(|v| serde_json::to_string(v).expect("meta values serialize"));
        self.call(move |c| {
            match json {
                Some(json) => c.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![key.as_str(), json],
                ),
                None => c.execute("DELETE FROM meta WHERE key = ?1", [key.as_str()]),
            }
            .map(|_| ())
        })
        .await
    }
}
