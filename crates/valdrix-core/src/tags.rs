//! Tags as a canonical, sorted key → value map.

use std::collections::BTreeMap;

/// A canonical tag set: keys sorted, unique, values as text. Serialised as a flat JSON object
/// (the FOCUS `Tags` format) with keys in sorted order, so equal tag sets have equal text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Tags(pub BTreeMap<String, String>);

impl Tags {
    /// Builds tags from pairs; a later duplicate key wins, empty keys are dropped.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut m = BTreeMap::new();
        for (k, v) in pairs {
            let k = k.as_ref().trim();
            if !k.is_empty() {
                m.insert(k.to_string(), v.as_ref().to_string());
            }
        }
        Tags(m)
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical JSON object text (`{}` when empty).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads the canonical JSON text written by [`Tags::to_json`].
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str::<BTreeMap<String, String>>(text).ok().map(Tags)
    }

    /// The value of one tag.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|s| s.as_str())
    }
}
