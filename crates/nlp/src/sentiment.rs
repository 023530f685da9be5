//! Message sentiment with VADER, tuned for short, informal chat text.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use vader_sentiment::SentimentIntensityAnalyzer;

use crate::score::round4;

/// VADER's published cut-offs for its compound score.
const POSITIVE_THRESHOLD: f64 = 0.05;
const NEGATIVE_THRESHOLD: f64 = -0.05;

// Parsing the lexicon costs milliseconds; pay it once per process, not per message.
static ANALYZER: LazyLock<SentimentIntensityAnalyzer<'static>> =
    LazyLock::new(SentimentIntensityAnalyzer::new);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
}

impl SentimentLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Neutral => "neutral",
            Self::Negative => "negative",
        }
    }

    fn from_score(score: f64) -> Self {
        if score >= POSITIVE_THRESHOLD {
            Self::Positive
        } else if score <= NEGATIVE_THRESHOLD {
            Self::Negative
        } else {
            Self::Neutral
        }
    }
}

impl std::fmt::Display for SentimentLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// VADER compound score in [-1, 1], rounded to 4 decimals.
    pub score: f64,
    pub label: SentimentLabel,
}

pub fn analyze(text: &str) -> Sentiment {
    let scores = ANALYZER.polarity_scores(text);
    let share = |key: &str| scores.get(key).copied().filter(|v| v.is_finite());
    // The Rust port adds the "?"/"!" emphasis even when no word carries sentiment,
    // which turns "What are your hours??" negative. The reference VADER leaves such
    // text at 0, and no positive or negative share is exactly that case.
    let carries_sentiment = share("pos").unwrap_or(0.0) > 0.0 || share("neg").unwrap_or(0.0) > 0.0;
    let compound = if carries_sentiment {
        share("compound").unwrap_or(0.0)
    } else {
        0.0
    };
    // Label the rounded value so the label never disagrees with the score a caller sees.
    let score = round4(compound.clamp(-1.0, 1.0));
    Sentiment {
        score,
        label: SentimentLabel::from_score(score),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_angry_complaint_is_strongly_negative() {
        let sentiment =
            analyze("This is terrible, my order arrived broken and nobody answers. I am furious!");
        assert_eq!(sentiment.label, SentimentLabel::Negative);
        assert!(sentiment.score <= -0.5, "score was {}", sentiment.score);
    }

    #[test]
    fn thanks_are_positive() {
        let sentiment = analyze("Thanks, that was really helpful!");
        assert_eq!(sentiment.label, SentimentLabel::Positive);
        assert!(sentiment.score >= 0.5, "score was {}", sentiment.score);
    }

    #[test]
    fn a_plain_question_is_neutral() {
        let sentiment = analyze("What are your opening hours?");
        assert_eq!(sentiment.label, SentimentLabel::Neutral);
    }

    #[test]
    fn negation_flips_the_polarity() {
        assert_eq!(analyze("This is good").label, SentimentLabel::Positive);
        assert_eq!(analyze("This is not good").label, SentimentLabel::Negative);
    }

    #[test]
    fn emphatic_punctuation_alone_is_not_negative() {
        for text in [
            "What are your hours??",
            "Where is my order?!",
            "?!",
            "Hello!!!",
        ] {
            assert_eq!(analyze(text).score, 0.0, "{text:?}");
        }
        assert!(analyze("Great!!!").score > analyze("Great").score);
        assert!(analyze("Awful!!!").score < analyze("Awful").score);
    }

    #[test]
    fn empty_and_blank_text_are_neutral_zero() {
        for text in ["", "   ", "\n\t"] {
            assert_eq!(
                analyze(text),
                Sentiment {
                    score: 0.0,
                    label: SentimentLabel::Neutral
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn emoji_carry_sentiment() {
        assert_eq!(analyze("😠").label, SentimentLabel::Negative);
        assert_eq!(analyze("😀").label, SentimentLabel::Positive);
    }

    #[test]
    fn score_is_rounded_to_four_decimals() {
        let score = analyze("Thanks, that was really helpful!").score;
        assert_eq!(score, round4(score));
        assert!((-1.0..=1.0).contains(&score));
    }

    #[test]
    fn labels_serialise_lowercase() {
        let json = serde_json::to_string(&analyze("I hate this")).unwrap();
        assert!(json.contains(r#""label":"negative""#), "{json}");
        assert_eq!(SentimentLabel::Positive.to_string(), "positive");
    }
}
