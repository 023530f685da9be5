//! FAQ retrieval: ranks FAQ entries against a chat message with BM25F and says how sure it is.
//!
//! Ranking is BM25F (Okapi saturation, k1 = 1.2, b = 0.75) over two fields, the
//! question weighted twice the answer: a hit in the question names the topic,
//! a hit in the answer may be incidental ("as long as it is unused").
//!
//! BM25 scores are unbounded and depend on the corpus, so a bot cannot threshold
//! them. `confidence` is instead the IDF-weighted share of the message's terms that
//! the entry covers, in [0, 1]: a term found in the entry's question counts fully,
//! one found only in its answer counts [`ANSWER_ONLY_CREDIT`], and a term the FAQ
//! never uses counts zero with the highest IDF there is (it is the most specific
//! word of the message, so "capital of France" covers nothing even when the FAQ
//! shares an everyday word with it). A message that repeats an FAQ question scores 1.
//!
//! The BM25F score relative to the message's own score was tried as a second
//! ingredient and dropped: saturation squeezes a lone incidental answer mention
//! ("order" in the warranty answer for "where is my order") to about 0.6 of a
//! verbatim question match, which pushed such messages over any usable threshold.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::score::round4;
use crate::text;

/// Passes a question match on one of two equally informative terms (0.5: "can I
/// return my order") and rejects one question term beside an unknown word (below
/// 0.4, since unknown words carry the top IDF: "is it open source") and any match
/// resting on answers alone (at most [`ANSWER_ONLY_CREDIT`]). Unanswered messages
/// should fall through to a fallback, so the threshold errs on the strict side.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.4;

/// How much a query term found only in an entry's answer counts towards confidence.
/// Answers mention neighbouring topics (the warranty answer asks for "your order
/// number"), so an answer word alone is weak evidence of what the entry is about.
pub const ANSWER_ONLY_CREDIT: f64 = 0.25;

const K1: f64 = 1.2;
const B: f64 = 0.75;
const QUESTION_WEIGHT: f64 = 2.0;
const ANSWER_WEIGHT: f64 = 1.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaqDoc {
    pub id: Uuid,
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaqHit {
    pub id: Uuid,
    pub question: String,
    pub answer: String,
    /// BM25F score, rounded to 4 decimals; comparable only within one index.
    pub score: f64,
    /// In [0, 1], rounded to 4 decimals; comparable across indexes and queries.
    pub confidence: f64,
}

#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: usize,
    question_tf: u32,
    answer_tf: u32,
}

/// An immutable index: every entry is tokenised once in `build`, so a query costs
/// only its own tokenisation plus a walk over the postings of its terms.
#[derive(Debug, Clone, Default)]
pub struct FaqIndex {
    docs: Vec<FaqDoc>,
    term_ids: HashMap<String, usize>,
    postings: Vec<Vec<Posting>>,
    idf: Vec<f64>,
    unseen_idf: f64,
    question_norm: Vec<f64>,
    answer_norm: Vec<f64>,
}

impl FaqIndex {
    pub fn build(docs: Vec<FaqDoc>) -> FaqIndex {
        let mut term_ids: HashMap<String, usize> = HashMap::new();
        let mut postings: Vec<Vec<Posting>> = Vec::new();
        let mut question_lens = Vec::with_capacity(docs.len());
        let mut answer_lens = Vec::with_capacity(docs.len());

        for (doc, faq) in docs.iter().enumerate() {
            let question = text::tokenize(&faq.question);
            let answer = text::tokenize(&faq.answer);
            question_lens.push(question.len());
            answer_lens.push(answer.len());

            let mut counts: HashMap<String, (u32, u32)> = HashMap::new();
            for term in question {
                counts.entry(term).or_default().0 += 1;
            }
            for term in answer {
                counts.entry(term).or_default().1 += 1;
            }
            for (term, (question_tf, answer_tf)) in counts {
                let next_id = term_ids.len();
                let id = *term_ids.entry(term).or_insert(next_id);
                if id == postings.len() {
                    postings.push(Vec::new());
                }
                postings[id].push(Posting {
                    doc,
                    question_tf,
                    answer_tf,
                });
            }
        }

        let n = docs.len() as f64;
        let idf = postings.iter().map(|p| bm25_idf(n, p.len())).collect();
        FaqIndex {
            term_ids,
            postings,
            idf,
            unseen_idf: bm25_idf(n, 0),
            question_norm: length_norms(&question_lens),
            answer_norm: length_norms(&answer_lens),
            docs,
        }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The `k` best entries sharing at least one term with `query`, best first.
    pub fn search(&self, query: &str, k: usize) -> Vec<FaqHit> {
        let mut terms = text::tokenize(query);
        terms.sort_unstable();
        terms.dedup();
        if terms.is_empty() || self.docs.is_empty() || k == 0 {
            return Vec::new();
        }

        let mut scores = vec![0.0; self.docs.len()];
        let mut covered = vec![0.0; self.docs.len()];
        let mut query_idf = 0.0;
        for term in &terms {
            let Some(&id) = self.term_ids.get(term) else {
                query_idf += self.unseen_idf;
                continue;
            };
            let idf = self.idf[id];
            query_idf += idf;
            for posting in &self.postings[id] {
                let tf = QUESTION_WEIGHT * f64::from(posting.question_tf)
                    / self.question_norm[posting.doc]
                    + ANSWER_WEIGHT * f64::from(posting.answer_tf) / self.answer_norm[posting.doc];
                scores[posting.doc] += idf * saturate(tf);
                covered[posting.doc] += if posting.question_tf > 0 {
                    idf
                } else {
                    idf * ANSWER_ONLY_CREDIT
                };
            }
        }

        let mut ranked: Vec<(usize, f64)> = scores
            .into_iter()
            .enumerate()
            .filter(|&(_, score)| score > 0.0)
            .collect();
        // Stable sort: equal scores keep FAQ order, so results are deterministic.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
            .into_iter()
            .take(k)
            .map(|(doc, score)| self.hit(doc, score, covered[doc] / query_idf))
            .collect()
    }

    /// The top entry if it is confident enough to be sent as the answer.
    pub fn best_answer(&self, query: &str, min_confidence: f64) -> Option<FaqHit> {
        self.search(query, 1)
            .into_iter()
            .next()
            .filter(|hit| hit.confidence >= min_confidence)
    }

    fn hit(&self, doc: usize, score: f64, confidence: f64) -> FaqHit {
        let faq = &self.docs[doc];
        FaqHit {
            id: faq.id,
            question: faq.question.clone(),
            answer: faq.answer.clone(),
            score: round4(score),
            confidence: round4(confidence.clamp(0.0, 1.0)),
        }
    }
}

/// The "+1" variant of the Robertson-Sparck Jones IDF: never negative, even for
/// terms in more than half of a small FAQ.
fn bm25_idf(docs: f64, doc_freq: usize) -> f64 {
    let df = doc_freq as f64;
    (1.0 + (docs - df + 0.5) / (df + 0.5)).ln()
}

fn saturate(tf: f64) -> f64 {
    tf / (K1 + tf)
}

/// BM25's length normalisation per entry: a term in a short field says more.
fn length_norms(lens: &[usize]) -> Vec<f64> {
    let total: usize = lens.iter().sum();
    // An all-empty field has no average; treat every length as average then.
    if total == 0 {
        return vec![1.0; lens.len()];
    }
    let avg_len = total as f64 / lens.len() as f64;
    lens.iter()
        .map(|&len| 1.0 - B + B * len as f64 / avg_len)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faq(question: &str, answer: &str) -> FaqDoc {
        FaqDoc {
            id: Uuid::new_v4(),
            question: question.to_owned(),
            answer: answer.to_owned(),
        }
    }

    fn shop_faq() -> FaqIndex {
        FaqIndex::build(vec![
            faq(
                "What are your opening hours?",
                "We are open Monday to Friday from 9am to 6pm and on Saturday from 10am to 4pm. \
                 We are closed on Sundays and public holidays.",
            ),
            faq(
                "How long does shipping take?",
                "Standard shipping takes 3 to 5 business days. Express delivery arrives within \
                 1 to 2 business days.",
            ),
            faq(
                "What is your return policy?",
                "You can return any item within 30 days of delivery for a full refund, as long as \
                 it is unused and in its original packaging.",
            ),
            faq(
                "Which payment methods do you accept?",
                "We accept Visa, Mastercard, American Express, PayPal and bank transfer.",
            ),
            faq(
                "How does the warranty work?",
                "All products come with a 2-year warranty covering manufacturing defects. Contact \
                 support with your order number to make a claim.",
            ),
            faq(
                "How can I talk to a human?",
                "Write 'agent' in the chat or call us on +1 555 0100 (Mon-Fri, 9am-6pm) to reach \
                 a member of our support team.",
            ),
        ])
    }

    fn best_question(index: &FaqIndex, query: &str) -> Option<String> {
        index
            .best_answer(query, DEFAULT_MIN_CONFIDENCE)
            .map(|hit| hit.question)
    }

    #[test]
    fn paraphrased_questions_find_their_entry() {
        let index = shop_faq();
        let cases = [
            (
                "when do you open on saturday?",
                "What are your opening hours?",
            ),
            ("Are you open on Sundays?", "What are your opening hours?"),
            (
                "how long does shipping take",
                "How long does shipping take?",
            ),
            (
                "when will my order be shipped",
                "How long does shipping take?",
            ),
            ("can I return my order", "What is your return policy?"),
            (
                "do you accept paypal?",
                "Which payment methods do you accept?",
            ),
            (
                "is there a warranty on this product",
                "How does the warranty work?",
            ),
            ("I want to talk to a human", "How can I talk to a human?"),
        ];
        for (query, expected) in cases {
            assert_eq!(
                best_question(&index, query).as_deref(),
                Some(expected),
                "{query:?}: {:?}",
                index.search(query, 3)
            );
        }
    }

    #[test]
    fn off_topic_messages_get_no_answer() {
        let index = shop_faq();
        for query in [
            "what is the capital of France",
            "asdf qwerty",
            "hello",
            "how are you?",
            "I need a new phone",
            "tell me a long joke",
            "where is my order",
            "my order is broken",
            "is it open source",
            "long live the king",
        ] {
            assert_eq!(
                index.best_answer(query, DEFAULT_MIN_CONFIDENCE),
                None,
                "{query:?}: {:?}",
                index.search(query, 3)
            );
        }
    }

    #[test]
    fn hits_are_sorted_best_first_and_bounded() {
        let index = shop_faq();
        let hits = index.search("shipping delivery business days", 10);
        assert!(hits.len() >= 2);
        assert_eq!(hits[0].question, "How long does shipping take?");
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
        assert!(
            hits.iter()
                .all(|hit| (0.0..=1.0).contains(&hit.confidence) && hit.score > 0.0)
        );
        assert_eq!(index.search("shipping delivery business days", 1).len(), 1);
    }

    #[test]
    fn a_question_asked_verbatim_is_near_certain() {
        let index = shop_faq();
        let hit = index
            .best_answer("What is your return policy?", 0.0)
            .unwrap();
        assert_eq!(hit.question, "What is your return policy?");
        assert!(hit.confidence >= 0.9, "{hit:?}");
    }

    #[test]
    fn a_question_match_outranks_an_answer_match() {
        let index = FaqIndex::build(vec![
            faq("Do you deliver abroad?", "Yes, to all EU countries."),
            faq(
                "Where is my parcel?",
                "Track it with the link in your delivery email.",
            ),
        ]);
        let hits = index.search("deliver", 2);
        assert_eq!(hits[0].question, "Do you deliver abroad?");
    }

    #[test]
    fn empty_index_query_or_k_has_no_hits() {
        let empty = FaqIndex::build(Vec::new());
        assert!(empty.is_empty());
        assert!(empty.search("opening hours", 5).is_empty());
        assert_eq!(empty.best_answer("opening hours", 0.0), None);

        let index = shop_faq();
        assert_eq!(index.len(), 6);
        for query in ["", "   ", "?!", "what is it"] {
            assert!(index.search(query, 5).is_empty(), "{query:?}");
        }
        assert!(index.search("opening hours", 0).is_empty());
    }

    #[test]
    fn entries_without_text_do_not_break_scoring() {
        let index = FaqIndex::build(vec![faq("", ""), faq("Opening hours?", "")]);
        let hit = index.best_answer("opening hours", 0.0).unwrap();
        assert_eq!(hit.question, "Opening hours?");
        assert!(hit.confidence.is_finite());
    }

    #[test]
    fn hits_carry_the_entry_id() {
        let doc = faq("Do you have gift cards?", "Yes, from 10 to 200 euros.");
        let id = doc.id;
        let index = FaqIndex::build(vec![doc]);
        assert_eq!(index.search("gift card", 1)[0].id, id);
    }
}
