//! Largest-remainder allocation: splitting a whole number of minor units
//! over lines in proportion to weights, so the parts add up exactly.
//!
//! Each part starts as the floor of its exact share `amount × wᵢ / Σw`; the
//! units the floors leave over (fewer than the number of lines) go one each
//! to the lines with the largest remainders, ties to the earlier line. A
//! line's part is therefore within one unit of its exact share, never more
//! than its weight when `amount ≤ Σw`, and zero when its weight is zero.

use super::PricingError;

/// Splits `amount` over `weights` by largest remainder (ties to the earlier
/// line): the parts sum to `amount` exactly, a zero weight gets zero, and
/// when `amount ≤ Σ weights` no part exceeds its weight.
///
/// Errors rather than panics: a negative amount or weight is
/// [`PricingError::NegativeAmount`]; a positive amount over weights that are
/// all zero (or no weights) is [`PricingError::NothingToAllocate`], since no
/// split of it can be proportional. Zero over anything is all zeros.
pub fn allocate(amount: i64, weights: &[i64]) -> Result<Vec<i64>, PricingError> {
    if amount < 0 || weights.iter().any(|&w| w < 0) {
        return Err(PricingError::NegativeAmount);
    }
    if amount == 0 {
        return Ok(vec![0; weights.len()]);
    }
    let total: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if total == 0 {
        return Err(PricingError::NothingToAllocate);
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    for (index, &weight) in weights.iter().enumerate() {
        // amount and weight are below 2^63, so the product fits an i128.
        let exact = i128::from(amount) * i128::from(weight);
        let part = exact / total;
        given += part;
        parts.push(i64::try_from(part).map_err(|_| PricingError::Overflow)?);
        remainders.push((exact % total, index));
    }
    // What the floors left: Σ remainders / total, so fewer than the number
    // of lines with a non-zero remainder; zero-weight lines never get one.
    let left = usize::try_from(i128::from(amount) - given).map_err(|_| PricingError::Overflow)?;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, index) in remainders.iter().take(left) {
        parts[index] += 1;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cents_over_three_lines_of_one_cent_go_to_the_first_two() {
        assert_eq!(allocate(2, &[1, 1, 1]).unwrap(), [1, 1, 0]);
    }

    #[test]
    fn the_largest_remainders_get_the_leftover_units() {
        // Exact shares 3.33…, 6.66…: the second line has the larger remainder.
        assert_eq!(allocate(10, &[1, 2]).unwrap(), [3, 7]);
        assert_eq!(allocate(100, &[1, 1, 1]).unwrap(), [34, 33, 33]);
        assert_eq!(allocate(7, &[0, 5, 0, 5]).unwrap(), [0, 4, 0, 3]);
    }

    #[test]
    fn parts_sum_exactly_and_never_exceed_their_weight() {
        let weights = [999, 1, 0, 12_345, 7, 7, 7];
        let total: i64 = weights.iter().sum();
        for amount in (0..=total).step_by(37).chain([total]) {
            let parts = allocate(amount, &weights).unwrap();
            assert_eq!(parts.iter().sum::<i64>(), amount);
            for (part, weight) in parts.iter().zip(weights) {
                assert!(*part >= 0 && *part <= weight, "{amount}: {parts:?}");
            }
        }
    }

    #[test]
    fn zero_weights_are_handled_without_a_panic() {
        assert_eq!(allocate(0, &[0, 0]).unwrap(), [0, 0]);
        assert_eq!(allocate(0, &[]).unwrap(), Vec::<i64>::new());
        assert_eq!(allocate(5, &[0, 0]), Err(PricingError::NothingToAllocate));
        assert_eq!(allocate(5, &[]), Err(PricingError::NothingToAllocate));
        assert_eq!(allocate(-1, &[1]), Err(PricingError::NegativeAmount));
        assert_eq!(allocate(1, &[2, -1]), Err(PricingError::NegativeAmount));
    }

    #[test]
    fn the_largest_amounts_do_not_overflow() {
        let parts = allocate(i64::MAX, &[i64::MAX, i64::MAX, 1]).unwrap();
        assert_eq!(
            parts.iter().map(|&p| i128::from(p)).sum::<i128>(),
            i128::from(i64::MAX)
        );
    }
}
