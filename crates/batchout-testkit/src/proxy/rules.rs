//! Which requests the proxy spoils, and how: [`Rules`], [`Matcher`], and the
//! seeded choice of a [`Fault`] for each request.

use std::time::Duration;

/// What the proxy does to the requests that [`Rules::only_if`] matches, while
/// [`Rules::fault_budget`] lasts.
///
/// The four fractions split each matching request's one random draw: a draw
/// below `fail_fraction` fails, the next `drop_response_fraction` loses its
/// answer, the next `cut_body_fraction` has its body cut, the next
/// `corrupt_request_fraction` reaches the upstream with one byte of its body
/// changed, and the rest pass. So
/// `fail_fraction: 0.2` fails one request in five, and the fractions must add up
/// to at most 1. The draws come from a small PRNG seeded with [`Rules::seed`]:
/// the same seed and the same order of requests give the same faults.
///
/// The default forwards everything untouched.
///
/// ```
/// use batchout_testkit::{Matcher, Rules};
///
/// // Lose the answer of the next Append Block, once.
/// let rules = Rules {
///     drop_response_fraction: 1.0,
///     only_if: Some(Matcher::method("PUT").target_contains("comp=appendblock")),
///     fault_budget: Some(1),
///     ..Rules::default()
/// };
/// # let _ = rules;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The share of matching requests (0 to 1) that the proxy answers itself
    /// with [`Rules::fail_status`] and an Azure-style error body
    /// (`x-ms-error-code` too), without forwarding them.
    pub fail_fraction: f64,
    /// The status of an injected failure: 503 (`ServerBusy`) by default.
    pub fail_status: u16,
    /// The error code of an injected failure, in its body (and
    /// `x-ms-error-code`): `None` for Azure Storage's code for the status
    /// (`ServerBusy` for a 503); `Some("SlowDown")` to look like S3.
    pub fail_code: Option<&'static str>,
    /// A `Retry-After` header, in seconds, on injected failures.
    pub retry_after: Option<u32>,
    /// The share of matching requests (0 to 1) that are forwarded and applied
    /// upstream, whose answer is then read and thrown away: the client's
    /// connection is closed without a byte of it.
    pub drop_response_fraction: f64,
    /// The share of matching requests (0 to 1) that are forwarded, and whose
    /// answer's body is cut half-way: the head and the first half of the body
    /// are sent, then the connection is closed. Only answers with a
    /// `Content-Length` above zero can be cut; a request drawn for a cut whose
    /// answer has no such body passes untouched and does not use the budget.
    pub cut_body_fraction: f64,
    /// The share of matching requests (0 to 1) that are forwarded with the
    /// first byte of their body changed (its lowest bit flipped), as a faulty
    /// network or middlebox would: a checksum sent with the request no longer
    /// matches. Only requests with a `Content-Length` above zero can be
    /// corrupted; one drawn that has no such body passes untouched and does not
    /// use the budget.
    pub corrupt_request_fraction: f64,
    /// A wait before each matching request is forwarded or failed (not counted
    /// against the budget).
    pub delay: Option<Duration>,
    /// Only requests this matches are delayed or spoiled; `None` matches all.
    pub only_if: Option<Matcher>,
    /// How many more requests may be spoiled; `None` for no limit. Each fault
    /// applied uses one; [`FaultProxy::rules`](crate::FaultProxy::rules) shows
    /// what is left.
    pub fault_budget: Option<u32>,
    /// The seed of the draws.
    pub seed: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            fail_fraction: 0.0,
            fail_status: 503,
            fail_code: None,
            retry_after: None,
            drop_response_fraction: 0.0,
            cut_body_fraction: 0.0,
            corrupt_request_fraction: 0.0,
            delay: None,
            only_if: None,
            fault_budget: None,
            seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Rules {
    /// Checks that the fractions are within 0 and 1 and add up to at most 1.
    pub(super) fn validate(&self) -> Result<(), String> {
        let fractions = [
            ("fail_fraction", self.fail_fraction),
            ("drop_response_fraction", self.drop_response_fraction),
            ("cut_body_fraction", self.cut_body_fraction),
            ("corrupt_request_fraction", self.corrupt_request_fraction),
        ];
        for (name, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{name} is {value}, not within 0 and 1"));
            }
        }
        let sum: f64 = fractions.iter().map(|(_, v)| v).sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!("the fault fractions add up to {sum}, more than 1"));
        }
        if !(100..=599).contains(&self.fail_status) {
            return Err(format!(
                "fail_status {} is no HTTP status",
                self.fail_status
            ));
        }
        Ok(())
    }
}

/// Which requests [`Rules`] apply to: a method and a piece of the request target
/// (path and query, as sent), both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    /// The method, compared without regard to case; `None` for any.
    pub method: Option<String>,
    /// A substring of the request target, e.g. `comp=appendblock`; `None` for
    /// any.
    pub target_contains: Option<String>,
}

impl Matcher {
    /// Matches requests with this method (any case).
    pub fn method(method: impl Into<String>) -> Self {
        Self {
            method: Some(method.into()),
            target_contains: None,
        }
    }

    /// Matches requests whose target (path and query) contains `needle`.
    pub fn target(needle: impl Into<String>) -> Self {
        Self::default().target_contains(needle)
    }

    /// The same matcher, also requiring that the target contains `needle`.
    pub fn target_contains(mut self, needle: impl Into<String>) -> Self {
        self.target_contains = Some(needle.into());
        self
    }

    /// Whether a request with this method and target matches.
    pub fn matches(&self, method: &str, target: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .target_contains
                .as_deref()
                .is_none_or(|needle| target.contains(needle))
    }
}

/// A fault the proxy applied to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Answered by the proxy with an error status; not forwarded.
    Failed,
    /// Forwarded and applied; the answer was thrown away and the client's
    /// connection closed.
    DroppedResponse,
    /// Forwarded and applied; the answer's body was cut half-way.
    CutBody,
    /// Forwarded with one byte of the request's body changed.
    CorruptedRequest,
}

/// What to do with one request.
#[derive(Debug, Clone, Default)]
pub(super) struct Decision {
    pub fault: Option<Fault>,
    pub delay: Option<Duration>,
    pub fail_status: u16,
    pub fail_code: Option<&'static str>,
    pub retry_after: Option<u32>,
}

/// The rules in force, with their draws and what is left of their budget.
#[derive(Debug)]
pub(super) struct Control {
    rules: Rules,
    rng: XorShift,
}

impl Control {
    pub fn new(rules: Rules) -> Self {
        let rng = XorShift::new(rules.seed);
        Self { rules, rng }
    }

    /// The rules, with the budget that is left.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Chooses what to do with a request, using the budget when it spoils it.
    pub fn decide(&mut self, method: &str, target: &str) -> Decision {
        let rules = &self.rules;
        let mut decision = Decision {
            fail_status: rules.fail_status,
            fail_code: rules.fail_code,
            retry_after: rules.retry_after,
            ..Decision::default()
        };
        if !rules
            .only_if
            .as_ref()
            .is_none_or(|m| m.matches(method, target))
        {
            return decision;
        }
        decision.delay = rules.delay;
        let cut = rules.fail_fraction + rules.drop_response_fraction + rules.cut_body_fraction;
        let total = cut + rules.corrupt_request_fraction;
        if total <= 0.0 || rules.fault_budget == Some(0) {
            return decision;
        }
        let draw = self.rng.next_f64();
        decision.fault = if draw < rules.fail_fraction {
            Some(Fault::Failed)
        } else if draw < rules.fail_fraction + rules.drop_response_fraction {
            Some(Fault::DroppedResponse)
        } else if draw < cut {
            Some(Fault::CutBody)
        } else if draw < total {
            Some(Fault::CorruptedRequest)
        } else {
            None
        };
        if decision.fault.is_some()
            && let Some(budget) = &mut self.rules.fault_budget
        {
            *budget -= 1;
        }
        decision
    }

    /// Gives back the budget of a fault that could not be applied.
    pub fn refund(&mut self) {
        if let Some(budget) = &mut self.rules.fault_budget {
            *budget += 1;
        }
    }
}

/// xorshift64*: tiny, fast, and plenty for choosing which requests fail.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        Self(if seed == 0 {
            0x2545_F491_4F6C_DD1D
        } else {
            seed
        })
    }

    /// A number in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // The top 53 bits, as a fraction.
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(rules: Rules, n: usize) -> Vec<Option<Fault>> {
        let mut control = Control::new(rules);
        (0..n)
            .map(|_| control.decide("PUT", "/a/b?comp=appendblock").fault)
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let rules = Rules {
            fail_fraction: 0.2,
            drop_response_fraction: 0.1,
            ..Rules::default()
        };
        assert_eq!(faults(rules.clone(), 200), faults(rules.clone(), 200));
        let other = Rules {
            seed: 7,
            ..rules.clone()
        };
        assert_ne!(faults(rules, 200), faults(other, 200));
    }

    #[test]
    fn a_fraction_fails_about_that_share_of_requests() {
        let rules = Rules {
            fail_fraction: 0.2,
            ..Rules::default()
        };
        let failed = faults(rules, 10_000)
            .iter()
            .filter(|f| **f == Some(Fault::Failed))
            .count();
        assert!((1_800..2_200).contains(&failed), "{failed}");
    }

    #[test]
    fn a_budget_limits_the_faults_to_the_first_matching_requests() {
        let rules = Rules {
            drop_response_fraction: 1.0,
            only_if: Some(Matcher::method("put").target_contains("comp=appendblock")),
            fault_budget: Some(2),
            ..Rules::default()
        };
        let mut control = Control::new(rules);
        assert_eq!(control.decide("GET", "/a/b?comp=appendblock").fault, None);
        assert_eq!(control.decide("PUT", "/a/b?comp=block").fault, None);
        let spoiled = (0..4)
            .map(|_| control.decide("PUT", "/a/b?comp=appendblock").fault)
            .collect::<Vec<_>>();
        let drop = Some(Fault::DroppedResponse);
        assert_eq!(spoiled, [drop, drop, None, None]);
        assert_eq!(control.rules().fault_budget, Some(0));
        control.refund();
        assert_eq!(control.rules().fault_budget, Some(1));
    }

    #[test]
    fn a_corrupting_fraction_draws_after_the_others() {
        let rules = Rules {
            corrupt_request_fraction: 1.0,
            ..Rules::default()
        };
        assert!(rules.validate().is_ok());
        assert!(
            faults(rules, 50)
                .iter()
                .all(|f| *f == Some(Fault::CorruptedRequest))
        );
        let too_much = Rules {
            cut_body_fraction: 0.5,
            corrupt_request_fraction: 0.6,
            ..Rules::default()
        };
        assert!(too_much.validate().is_err());
    }

    #[test]
    fn fractions_out_of_range_are_refused() {
        let over = Rules {
            fail_fraction: 0.6,
            cut_body_fraction: 0.6,
            ..Rules::default()
        };
        assert!(over.validate().is_err());
        let negative = Rules {
            fail_fraction: -0.1,
            ..Rules::default()
        };
        assert!(negative.validate().is_err());
        assert!(Rules::default().validate().is_ok());
    }
}
