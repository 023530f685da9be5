//! Intent detection: matches a chat message to the chatbot intent whose example phrases it resembles.
//!
//! Every example phrase becomes a TF-IDF vector of the terms from [`crate::text`]
//! (sublinear term frequency; smoothed IDF counted over intents, not examples, so
//! the word an intent's phrases share, like "refund", is not discounted as common).
//! A message scores against an intent as the mean of two cosines: with its closest
//! example (nearest neighbour: the message paraphrases a phrase) and with the
//! intent's centroid, the normalised sum of its examples (Rocchio: the message uses
//! the words the phrases agree on). The mean, not the max, keeps a message that
//! shares one incidental word with one phrase ("I need a new phone" against "I need
//! an oil change") below the threshold, while agreeing examples add up.
//!
//! Message terms that no example uses stay in the message's norm with the highest
//! IDF: "I need a new phone" then shares only "need" with "I need an oil change"
//! and scores low, instead of matching perfectly on the one word they share.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::score::round4;
use crate::text;

/// In the tests, paraphrases score 0.33 to 0.6 and messages sharing one everyday
/// word with a phrase ("I need help", "I want to buy a car") 0.17 to 0.26.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentDef {
    pub name: String,
    pub examples: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct IntentMatch {
    pub name: String,
    /// Mean of two cosine similarities, in [0, 1], rounded to 4 decimals.
    pub confidence: f64,
}

/// A unit-length sparse vector, sorted by term id.
type Vector = Vec<(usize, f64)>;

#[derive(Debug, Clone)]
struct IntentModel {
    name: String,
    examples: Vec<Vector>,
    centroid: Vector,
}

#[derive(Debug, Clone, Default)]
pub struct IntentClassifier {
    term_ids: HashMap<String, usize>,
    idf: Vec<f64>,
    unseen_idf: f64,
    intents: Vec<IntentModel>,
}

impl IntentClassifier {
    pub fn build(intents: &[IntentDef]) -> Self {
        let tokenized: Vec<Vec<Vec<String>>> = intents
            .iter()
            .map(|intent| {
                intent
                    .examples
                    .iter()
                    .map(|example| text::tokenize(example))
                    .filter(|terms| !terms.is_empty())
                    .collect()
            })
            .collect();

        let mut term_ids: HashMap<String, usize> = HashMap::new();
        let mut intent_freq: Vec<usize> = Vec::new();
        let mut intent_count = 0;
        for examples in tokenized.iter().filter(|examples| !examples.is_empty()) {
            intent_count += 1;
            let mut seen: Vec<usize> = examples
                .iter()
                .flatten()
                .map(|term| intern(&mut term_ids, term))
                .collect();
            seen.sort_unstable();
            seen.dedup();
            intent_freq.resize(term_ids.len(), 0);
            for id in seen {
                intent_freq[id] += 1;
            }
        }

        let n = intent_count as f64;
        let mut classifier = IntentClassifier {
            idf: intent_freq.iter().map(|&df| smooth_idf(n, df)).collect(),
            unseen_idf: smooth_idf(n, 0),
            term_ids,
            intents: Vec::new(),
        };
        classifier.intents = intents
            .iter()
            .zip(&tokenized)
            .filter(|(_, examples)| !examples.is_empty())
            .map(|(intent, examples)| classifier.model(&intent.name, examples))
            .collect();
        classifier
    }

    pub fn detect(&self, text: &str) -> Option<IntentMatch> {
        self.detect_with_threshold(text, DEFAULT_MIN_CONFIDENCE)
    }

    /// The best-scoring intent if its confidence reaches `min_confidence`; the
    /// first-defined intent wins a tie.
    pub fn detect_with_threshold(&self, text: &str, min_confidence: f64) -> Option<IntentMatch> {
        let query = self.tf_idf_vector(&text::tokenize(text))?;
        let mut best: Option<(&IntentModel, f64)> = None;
        for intent in &self.intents {
            let nearest = intent
                .examples
                .iter()
                .map(|example| dot(&query, example))
                .fold(0.0, f64::max);
            let score = (nearest + dot(&query, &intent.centroid)) / 2.0;
            if best.is_none_or(|(_, best_score)| score > best_score) {
                best = Some((intent, score));
            }
        }
        let (intent, score) = best?;
        let confidence = round4(score.clamp(0.0, 1.0));
        (confidence > 0.0 && confidence >= min_confidence).then(|| IntentMatch {
            name: intent.name.clone(),
            confidence,
        })
    }

    fn model(&self, name: &str, examples: &[Vec<String>]) -> IntentModel {
        let examples: Vec<Vector> = examples
            .iter()
            .filter_map(|terms| self.tf_idf_vector(terms))
            .collect();
        let mut sum: BTreeMap<usize, f64> = BTreeMap::new();
        for (id, weight) in examples.iter().flatten() {
            *sum.entry(*id).or_default() += weight;
        }
        let centroid = normalise(sum.into_iter().collect(), 0.0).unwrap_or_default();
        IntentModel {
            name: name.to_owned(),
            examples,
            centroid,
        }
    }

    /// The unit TF-IDF vector of `terms` over the examples' vocabulary; unknown terms
    /// only lengthen the norm, which is what lowers the cosine of off-topic text.
    fn tf_idf_vector(&self, terms: &[String]) -> Option<Vector> {
        let mut counts: HashMap<&str, u32> = HashMap::new();
        for term in terms {
            *counts.entry(term.as_str()).or_default() += 1;
        }
        let mut known = Vec::with_capacity(counts.len());
        let mut unknown_sq = 0.0;
        for (term, count) in counts {
            let tf = 1.0 + f64::from(count).ln();
            match self.term_ids.get(term) {
                Some(&id) => known.push((id, tf * self.idf[id])),
                None => unknown_sq += (tf * self.unseen_idf).powi(2),
            }
        }
        normalise(known, unknown_sq)
    }
}

fn intern(term_ids: &mut HashMap<String, usize>, term: &str) -> usize {
    if let Some(&id) = term_ids.get(term) {
        return id;
    }
    let id = term_ids.len();
    term_ids.insert(term.to_owned(), id);
    id
}

/// scikit-learn's smoothed IDF, over intents: as if one extra intent used every
/// term, so no term has zero weight and unseen terms stay finite.
fn smooth_idf(intents: f64, intent_freq: usize) -> f64 {
    ((1.0 + intents) / (1.0 + intent_freq as f64)).ln() + 1.0
}

/// Sorts by term id and scales to unit length, counting `extra_sq` (the squared
/// weight of dimensions not stored) in the norm. None for a zero vector.
fn normalise(mut vector: Vector, extra_sq: f64) -> Option<Vector> {
    let norm = (vector.iter().map(|(_, w)| w * w).sum::<f64>() + extra_sq).sqrt();
    if vector.is_empty() || norm <= 0.0 {
        return None;
    }
    vector.sort_unstable_by_key(|&(id, _)| id);
    for (_, weight) in &mut vector {
        *weight /= norm;
    }
    Some(vector)
}

fn dot(a: &Vector, b: &Vector) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(name: &str, examples: &[&str]) -> IntentDef {
        IntentDef {
            name: name.to_owned(),
            examples: examples.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    fn garage_bot() -> IntentClassifier {
        IntentClassifier::build(&[
            intent(
                "refund",
                &[
                    "I want my money back",
                    "refund my order",
                    "can I get a refund",
                ],
            ),
            intent(
                "book_service",
                &[
                    "book a service appointment",
                    "schedule maintenance for my car",
                    "I need an oil change",
                ],
            ),
            intent("human", &["talk to a person", "speak to a human agent"]),
        ])
    }

    fn detected(classifier: &IntentClassifier, text: &str) -> Option<String> {
        classifier.detect(text).map(|m| m.name)
    }

    #[test]
    fn paraphrases_find_their_intent() {
        let bot = garage_bot();
        let cases = [
            ("please refund my purchase", "refund"),
            ("I want a refund", "refund"),
            ("give me my money back!", "refund"),
            ("can you schedule an oil change next week", "book_service"),
            ("I'd like to book an appointment for my car", "book_service"),
            ("I'd like to speak with a real person", "human"),
            ("can I talk to an agent", "human"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                detected(&bot, text).as_deref(),
                Some(expected),
                "{text:?}: {:?}",
                bot.detect_with_threshold(text, 0.0)
            );
        }
    }

    #[test]
    fn unrelated_messages_match_no_intent() {
        let bot = garage_bot();
        for text in [
            "what's the weather",
            "hello",
            "I need a new phone",
            "I need help",
            "I want to buy a car",
            "my car makes a weird noise",
            "back to the main menu",
            "what is the capital of France",
            "",
            "?!",
        ] {
            assert_eq!(
                bot.detect(text),
                None,
                "{text:?}: {:?}",
                bot.detect_with_threshold(text, 0.0)
            );
        }
    }

    #[test]
    fn no_intents_detect_nothing() {
        let bot = IntentClassifier::build(&[]);
        assert_eq!(bot.detect("refund my order"), None);
        assert_eq!(bot.detect_with_threshold("refund my order", 0.0), None);
        let only_stopwords = IntentClassifier::build(&[intent("empty", &["", "what is it"])]);
        assert_eq!(
            only_stopwords.detect_with_threshold("what is it", 0.0),
            None
        );
    }

    #[test]
    fn an_example_repeated_verbatim_is_near_certain() {
        let hit = garage_bot().detect("Refund my order").unwrap();
        assert_eq!(hit.name, "refund");
        assert!(hit.confidence >= 0.8, "{hit:?}");
        let single = IntentClassifier::build(&[intent("hi", &["hello there"])]);
        assert_eq!(single.detect("Hello there!").unwrap().confidence, 1.0);
    }

    #[test]
    fn threshold_is_respected_and_confidence_rounded() {
        let bot = garage_bot();
        let hit = bot
            .detect_with_threshold("please refund my purchase", 0.0)
            .unwrap();
        assert!(hit.confidence > 0.0 && hit.confidence < 1.0);
        assert_eq!(hit.confidence, round4(hit.confidence));
        assert_eq!(
            bot.detect_with_threshold("please refund my purchase", hit.confidence + 0.01),
            None
        );
    }

    #[test]
    fn a_dedicated_intent_beats_a_shared_word() {
        let mut intents = vec![intent("refund", &["refund my order"])];
        assert_eq!(
            detected(&IntentClassifier::build(&intents), "where is my order?").as_deref(),
            Some("refund"),
            "one shared word is all a lexical model has to go on"
        );
        intents.push(intent(
            "order_status",
            &["where is my order", "track my parcel"],
        ));
        let bot = IntentClassifier::build(&intents);
        assert_eq!(
            detected(&bot, "where is my order?").as_deref(),
            Some("order_status")
        );
        assert_eq!(
            detected(&bot, "please refund my order").as_deref(),
            Some("refund")
        );
    }

    #[test]
    fn agreeing_examples_strengthen_an_intent() {
        let bot = garage_bot();
        let one = bot.detect_with_threshold("oil change", 0.0).unwrap();
        let two = bot
            .detect_with_threshold("oil change and maintenance for my car", 0.0)
            .unwrap();
        assert_eq!(one.name, "book_service");
        assert_eq!(two.name, "book_service");
        let single = bot
            .detect_with_threshold("oil change and maintenance for my bike", 0.0)
            .unwrap();
        assert!(two.confidence > single.confidence, "{two:?} vs {single:?}");
    }
}
