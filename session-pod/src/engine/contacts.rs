//! What WhatsApp shows of a person (about, picture, business, LID), and LID → phone
//! resolution. Both engines implement it.

use async_trait::async_trait;
use wagate_api::{BlockedContact, ContactInfo};

use super::EngineError;

#[async_trait]
pub trait ContactDirectory: Send + Sync {
    /// The person with full JID `jid` (`...@s.whatsapp.net` or `...@lid`); `push_name` is
    /// left for the session to fill in.
    async fn contact(&self, jid: &str) -> Result<ContactInfo, EngineError>;
    /// The phone digits behind LID `lid` (a full `...@lid` JID), `None` when WhatsApp does
    /// not say.
    async fn lid_phone(&self, lid: &str) -> Result<Option<String>, EngineError>;
    /// Blocks the person with full JID `jid`: they can no longer message or call this
    /// account. `NotOnWhatsApp` for a number WhatsApp does not know.
    async fn block(&self, jid: &str) -> Result<(), EngineError>;
    async fn unblock(&self, jid: &str) -> Result<(), EngineError>;
    async fn blocklist(&self) -> Result<Vec<BlockedContact>, EngineError>;
}
