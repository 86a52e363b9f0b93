//! This account's own profile: the name others see, the about text and the picture. Both
//! engines implement it.

use async_trait::async_trait;
use wagate_api::Profile;

use super::EngineError;

#[async_trait]
pub trait OwnProfile: Send + Sync {
    async fn profile(&self) -> Result<Profile, EngineError>;
    async fn set_push_name(&self, name: &str) -> Result<(), EngineError>;
    /// `""` clears it.
    async fn set_about(&self, about: &str) -> Result<(), EngineError>;
    /// `jpeg` is already square and at WhatsApp's size (see `profile_picture`).
    async fn set_picture(&self, jpeg: Vec<u8>) -> Result<(), EngineError>;
    async fn remove_picture(&self) -> Result<(), EngineError>;
}
