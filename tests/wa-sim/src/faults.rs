//! Things going wrong on WhatsApp's side, on demand.

use std::time::Duration;

use wacore_binary::builder::NodeBuilder;

use crate::world::{ConnHandle, World};

impl World {
    fn conns_of(state: &crate::world::State, phone: &str) -> Vec<ConnHandle> {
        state
            .online
            .iter()
            .filter(|((p, _), _)| p == phone)
            .map(|(_, conn)| conn.clone())
            .collect()
    }

    /// Drops every connection of the account without a word (a network cut).
    pub async fn drop_connections(&self, phone: &str) -> usize {
        let conns = Self::conns_of(&*self.state.lock().await, phone);
        for conn in &conns {
            conn.close();
        }
        conns.len()
    }

    /// `<stream:error code>` then close, on every connection of the account
    /// (515: reconnect now; 503: service unavailable; 401: unauthorised).
    pub async fn stream_error(&self, phone: &str, code: u16) -> usize {
        let conns = Self::conns_of(&*self.state.lock().await, phone);
        for conn in &conns {
            conn.send(
                NodeBuilder::new("stream:error")
                    .attr("code", code.to_string())
                    .build(),
            );
            conn.close();
        }
        conns.len()
    }

    /// A temporary ban: live connections are cut and logins refused with `402` until it ends.
    pub async fn ban(&self, phone: &str, duration: Duration) -> bool {
        let mut state = self.state.lock().await;
        let Some(account) = state.accounts.get_mut(phone) else {
            return false;
        };
        account.banned_until = Some(
            chrono::Utc::now()
                + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(1)),
        );
        let conns = Self::conns_of(&state, phone);
        drop(state);
        for conn in conns {
            conn.close();
        }
        true
    }

    pub async fn lift_ban(&self, phone: &str) {
        if let Some(account) = self.state.lock().await.accounts.get_mut(phone) {
            account.banned_until = None;
        }
    }

    /// WhatsApp is unreachable for `duration`: live connections are cut and new ones are
    /// closed before the handshake until it is over.
    pub async fn go_down(&self, phone: &str, duration: Duration) -> usize {
        self.state.lock().await.faults.down_until = Some(tokio::time::Instant::now() + duration);
        self.drop_connections(phone).await
    }

    pub async fn is_down(&self) -> bool {
        self.state
            .lock()
            .await
            .faults
            .down_until
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// Holds the server's `<ack>` of every client message this long.
    pub async fn set_ack_delay(&self, delay: Duration) {
        self.state.lock().await.faults.ack_delay = delay;
    }

    /// Holds every Noise handshake this long before answering the client's hello (a busy
    /// server), so logins overlap as they would against WhatsApp.
    pub async fn set_handshake_delay(&self, delay: Duration) {
        self.state.lock().await.faults.handshake_delay = delay;
    }

    /// Refuse resumed (IK) handshakes: clients must fall back to XX.
    pub async fn refuse_resume(&self, refuse: bool) {
        self.state.lock().await.faults.refuse_ik = refuse;
    }

    pub async fn throttle_lookups(&self, throttle: bool) {
        self.state.lock().await.faults.throttle_lookups = throttle;
    }
}
