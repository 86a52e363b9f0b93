//! What WhatsApp shows of a person (about, picture, business, LID), and LID → phone
//! resolution. Both engines implement it.

use async_trait::async_trait;
use wagate_api::ContactInfo;

use super::EngineError;

#[async_trait]
pub trait ContactDirectory: Send + Sync {
    /// The person with full JID `jid` (`...@s.whatsapp.net` or `...@lid`); `push_name` is
    /// left for the session to fill in.
    async fn contact(&self, jid: &str) -> Result<ContactInfo, EngineError>;
    /// The phone digits behind LID `lid` (a full `...@lid` JID), `None` when WhatsApp does
    /// not say.
    async fn lid_phone(&self, lid: &str) -> Result<Option<String>, EngineError>;
}
