//! Polls: the one to send (`SendRequest.poll`), a received one, its votes and its tally.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::FieldErrors;

/// WhatsApp's bounds on a poll.
pub const POLL_OPTIONS_MIN: usize = 2;
pub const POLL_OPTIONS_MAX: usize = 12;
pub const POLL_QUESTION_MAX: usize = 255;
pub const POLL_OPTION_MAX: usize = 100;

/// A poll: its question, its options and how many of them one voter may pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollSpec {
    pub question: String,
    /// 2-12 distinct options, in the order shown.
    pub options: Vec<String>,
    /// How many options a voter may pick: `1` for a single choice, up to the number of
    /// options; `0` (the default) lets each voter pick any number.
    #[serde(default)]
    pub selectable_count: u32,
}

impl PollSpec {
    /// Adds what is wrong with it to `errors` (fields under `poll.`).
    pub fn check(&self, errors: &mut FieldErrors) {
        if self.question.trim().is_empty() || self.question.chars().count() > POLL_QUESTION_MAX {
            errors.insert(
                "poll.question".into(),
                format!("must be 1-{POLL_QUESTION_MAX} characters"),
            );
        }
        let count = self.options.len();
        if !(POLL_OPTIONS_MIN..=POLL_OPTIONS_MAX).contains(&count) {
            errors.insert(
                "poll.options".into(),
                format!("must list {POLL_OPTIONS_MIN}-{POLL_OPTIONS_MAX} options (got {count})"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, option) in self.options.iter().enumerate() {
            if option.trim().is_empty() || option.chars().count() > POLL_OPTION_MAX {
                errors.insert(
                    format!("poll.options[{i}]"),
                    format!("must be 1-{POLL_OPTION_MAX} characters"),
                );
            } else if !seen.insert(option.as_str()) {
                // Votes name options by a hash of their text: twins could not be told apart.
                errors.insert(
                    format!("poll.options[{i}]"),
                    "repeats an earlier option".into(),
                );
            }
        }
        if self.selectable_count as usize > count {
            errors.insert(
                "poll.selectableCount".into(),
                format!("must be 0 (any number) or 1-{count}"),
            );
        }
    }
}

/// One option of a poll and who picked it (phone digits, or a JID without one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollOptionVotes {
    pub option: String,
    pub voters: Vec<String>,
}

/// `data` of a `poll.vote` event: someone's current choice (an empty list withdrew it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollVoteData {
    /// The poll's message id.
    pub poll_id: String,
    /// The voter (phone digits, or a JID without one).
    pub from: String,
    /// Their LID (`digits@lid`) whenever WhatsApp used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    pub chat: String,
    /// The options' texts, as the poll names them.
    pub selected_options: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(spec: PollSpec) -> FieldErrors {
        let mut errors = FieldErrors::new();
        spec.check(&mut errors);
        errors
    }

    fn poll(options: &[&str], selectable_count: u32) -> PollSpec {
        PollSpec {
            question: "Lunch?".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            selectable_count,
        }
    }

    #[test]
    fn options_are_two_to_twelve_distinct() {
        assert!(errors_of(poll(&["Pizza", "Sushi"], 1)).is_empty());
        assert!(errors_of(poll(&["Pizza"], 1)).contains_key("poll.options"));
        let thirteen: Vec<String> = (0..13).map(|i| format!("o{i}")).collect();
        let refs: Vec<&str> = thirteen.iter().map(String::as_str).collect();
        assert!(errors_of(poll(&refs, 1)).contains_key("poll.options"));
        assert!(errors_of(poll(&["Pizza", "Pizza"], 1)).contains_key("poll.options[1]"));
        assert!(errors_of(poll(&["Pizza", " "], 1)).contains_key("poll.options[1]"));
    }

    #[test]
    fn selectable_count_is_any_or_at_most_the_options() {
        assert!(errors_of(poll(&["a", "b", "c"], 0)).is_empty());
        assert!(errors_of(poll(&["a", "b", "c"], 3)).is_empty());
        assert!(errors_of(poll(&["a", "b", "c"], 4)).contains_key("poll.selectableCount"));
    }

    #[test]
    fn the_question_is_required() {
        let mut spec = poll(&["a", "b"], 1);
        spec.question = String::new();
        assert!(errors_of(spec).contains_key("poll.question"));
    }
}
