//! The people around the client: contacts, groups, and what they do.

use crate::nodes::now_secs;
use crate::world::{Admin, Contact, Group, World};

impl World {
    pub async fn add_contact(&self, phone: &str, push_name: &str, business_name: Option<&str>) {
        let mut contact = Contact::new(phone, push_name);
        contact.business_name = business_name.map(str::to_string);
        self.state
            .lock()
            .await
            .contacts
            .insert(phone.to_string(), contact);
    }

    /// A group whose first member owns it; returns its JID.
    pub async fn add_group(&self, subject: &str, members: &[(String, Admin)]) -> String {
        let id = format!("120363{:012}", rand::random::<u64>() % 1_000_000_000_000);
        let group = Group {
            id: id.clone(),
            subject: subject.to_string(),
            description: Some(format!("{subject} (simulated)")),
            owner: members.first().map(|(p, _)| p.clone()).unwrap_or_default(),
            members: members.to_vec(),
            created: now_secs(),
            announce: false,
            locked: false,
            ephemeral: 0,
            invite: crate::groups::new_invite_code(),
        };
        self.state.lock().await.groups.push(group);
        format!("{id}@g.us")
    }

    /// Contact `contact` read message `id` from account `to`: a read receipt to its devices.
    pub async fn read(&self, contact: &str, to: &str, id: &str) -> usize {
        let state = self.state.lock().await;
        let conns: Vec<_> = state
            .online
            .iter()
            .filter(|((p, _), _)| p == to)
            .map(|(_, c)| c.clone())
            .collect();
        for conn in &conns {
            conn.send(crate::messaging::receipt(id, contact, Some("read")));
        }
        conns.len()
    }
}
