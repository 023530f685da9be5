//! Tokenisation shared by retrieval and intent detection, so both match the same word forms.
//!
//! Pipeline: Unicode lowercase, split on anything that is not a letter or digit,
//! cut English contractions at the apostrophe, drop stopwords and single letters,
//! then a light Porter-style stem so inflections ("hours", "opening", "shipped")
//! meet their base forms ("hour", "open", "ship").

/// Function words that say nothing about what a message is about. Negations are
/// deliberately kept ("not working" differs from "working"), as are greetings and
/// thanks, which are intents of their own in most chatbots. Sorted for binary search.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "ain",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "aren",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "couldn",
    "did",
    "didn",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadn",
    "has",
    "hasn",
    "have",
    "haven",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "isn",
    "it",
    "its",
    "itself",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "mustn",
    "my",
    "myself",
    "needn",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "please",
    "pls",
    "plz",
    "same",
    "shall",
    "she",
    "should",
    "shouldn",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "wasn",
    "we",
    "were",
    "weren",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "won",
    "would",
    "wouldn",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok()
}

/// Splits `text` into the normalised terms that retrieval and intent detection compare.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut word = String::new();
    let mut contraction = String::new();
    let mut in_contraction = false;
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            let target = if in_contraction {
                &mut contraction
            } else {
                &mut word
            };
            target.extend(ch.to_lowercase());
        } else if is_apostrophe(ch) && !word.is_empty() && !in_contraction {
            in_contraction = true;
        } else {
            push_word(&mut terms, &word, &contraction);
            word.clear();
            contraction.clear();
            in_contraction = false;
        }
    }
    push_word(&mut terms, &word, &contraction);
    terms
}

fn is_apostrophe(ch: char) -> bool {
    matches!(ch, '\'' | '\u{2019}' | '\u{02bc}')
}

fn push_word(terms: &mut Vec<String>, word: &str, contraction: &str) {
    if is_informative(word) {
        terms.push(stem(word));
    }
    // "don't", "can't", "isn't": keep the negation, whose head is a stopword.
    // Other tails ('s, 'd, 'll, 're, 've, 'm) carry no topic.
    if contraction == "t" {
        terms.push("not".to_owned());
    }
}

fn is_informative(word: &str) -> bool {
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (None, _) => false,
        // A lone Latin letter is an initial or a typo; a lone digit or CJK character is not.
        (Some(first), None) => !first.is_ascii_alphabetic(),
        _ => !is_stopword(word),
    }
}

/// Light English stemming: Porter steps 1a, 1b and 5a. The later Porter steps fold
/// derivations ("payment" into "pay") and overreach on short chat text, so they are left out.
/// Non-ASCII words are returned unchanged rather than mangled by English rules.
pub fn stem(word: &str) -> String {
    if word.len() < 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return word.to_owned();
    }
    let mut w = word.as_bytes().to_vec();
    plurals(&mut w);
    verb_endings(&mut w);
    final_e(&mut w);
    // Only ASCII letters were edited, so the bytes are still valid UTF-8.
    String::from_utf8(w).unwrap_or_else(|_| word.to_owned())
}

/// Porter 1a, except that "-ies" becomes "-y" (so "policies" meets "policy") and that
/// "-us"/"-is" and three-letter words keep their "s" ("status", "analysis", "yes").
fn plurals(w: &mut Vec<u8>) {
    if w.ends_with(b"sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with(b"ies") {
        if w.len() > 4 {
            w.truncate(w.len() - 3);
            w.push(b'y');
        } else {
            // "ties", "lies": the base form keeps its "e".
            w.pop();
        }
    } else if w.len() > 3
        && w.ends_with(b"s")
        && !w.ends_with(b"ss")
        && !w.ends_with(b"us")
        && !w.ends_with(b"is")
    {
        w.pop();
    }
}

/// Porter 1b: "-eed", "-ed", "-ing", then repairs the stem ("shipp" -> "ship", "hop" -> "hope").
fn verb_endings(w: &mut Vec<u8>) {
    if w.ends_with(b"eed") {
        if measure(&w[..w.len() - 3]) > 0 {
            w.pop();
        }
        return;
    }
    let suffix = if w.ends_with(b"ed") {
        2
    } else if w.ends_with(b"ing") {
        3
    } else {
        return;
    };
    let stem_len = w.len() - suffix;
    if !has_vowel(&w[..stem_len]) {
        return;
    }
    w.truncate(stem_len);
    if w.ends_with(b"at") || w.ends_with(b"bl") || w.ends_with(b"iz") {
        w.push(b'e');
    } else if ends_with_double_consonant(w) && !matches!(w.last(), Some(b'l' | b's' | b'z')) {
        w.pop();
    } else if measure(w) == 1 && ends_cvc(w) {
        w.push(b'e');
    }
}

/// Porter 5a: drop a final "e" so "charge"/"charged" and "service"/"services" share a stem.
fn final_e(w: &mut Vec<u8>) {
    if !w.ends_with(b"e") {
        return;
    }
    let stem = &w[..w.len() - 1];
    let m = measure(stem);
    if m > 1 || (m == 1 && !ends_cvc(stem)) {
        w.pop();
    }
}

fn is_consonant(w: &[u8], i: usize) -> bool {
    match w[i] {
        b'a' | b'e' | b'i' | b'o' | b'u' => false,
        b'y' => i == 0 || !is_consonant(w, i - 1),
        _ => true,
    }
}

/// Porter's m: the number of vowel-consonant sequences in the stem.
fn measure(w: &[u8]) -> usize {
    let mut m = 0;
    let mut previous_was_vowel = false;
    for i in 0..w.len() {
        let consonant = is_consonant(w, i);
        if consonant && previous_was_vowel {
            m += 1;
        }
        previous_was_vowel = !consonant;
    }
    m
}

fn has_vowel(w: &[u8]) -> bool {
    (0..w.len()).any(|i| !is_consonant(w, i))
}

fn ends_with_double_consonant(w: &[u8]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// Consonant-vowel-consonant ending, last not w/x/y: the short syllable of "hop(e)".
fn ends_cvc(w: &[u8]) -> bool {
    let n = w.len();
    n >= 3
        && is_consonant(w, n - 3)
        && !is_consonant(w, n - 2)
        && is_consonant(w, n - 1)
        && !matches!(w[n - 1], b'w' | b'x' | b'y')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn inflections_meet_their_base_form() {
        let same = [
            ("hours", "hour"),
            ("opening", "open"),
            ("opens", "open"),
            ("shipped", "ship"),
            ("shipping", "ship"),
            ("returned", "return"),
            ("services", "service"),
            ("charged", "charge"),
            ("closing", "closed"),
            ("policies", "policy"),
            ("boxes", "box"),
            ("hoping", "hope"),
            ("delivered", "deliver"),
            ("agreed", "agree"),
        ];
        for (a, b) in same {
            assert_eq!(stem(a), stem(b), "{a} vs {b}");
        }
    }

    #[test]
    fn stemming_is_conservative() {
        for word in [
            "status", "analysis", "need", "thing", "bring", "yes", "ship",
        ] {
            assert_eq!(stem(word), word);
        }
        assert_ne!(stem("payment"), stem("pay"));
        assert_eq!(stem("café"), "café");
    }

    #[test]
    fn tokenize_lowercases_splits_and_drops_stopwords() {
        assert_eq!(
            tokenize("What are your Opening-Hours on SATURDAY?"),
            ["open", "hour", "saturday"]
        );
    }

    #[test]
    fn contractions_keep_only_their_head_and_negation() {
        assert_eq!(
            tokenize("I'd like the customer's order"),
            ["like", "customer", "order"]
        );
        assert_eq!(tokenize("It doesn’t work"), ["not", "work"]);
    }

    #[test]
    fn tokenize_is_unicode_aware() {
        assert_eq!(
            tokenize("Öffnungszeiten für Café?"),
            ["öffnungszeiten", "für", "café"]
        );
        assert_eq!(tokenize("24/7 support"), ["24", "7", "support"]);
    }

    #[test]
    fn empty_and_punctuation_only_text_has_no_terms() {
        assert!(tokenize("").is_empty());
        assert!(tokenize("?! ... '' -").is_empty());
        assert!(tokenize("what is it?").is_empty());
    }
}
