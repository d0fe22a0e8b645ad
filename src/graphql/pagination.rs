//! Cursor connections, one way: `first` (1 to [`MAX_PAGE`], default
//! [`DEFAULT_PAGE`]), `after` (a cursor the connection handed out, parsed by
//! its own rule), one item more fetched than asked to tell whether there is a
//! next page.

use super::error::{ApiError, ApiResult};
use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};

/// Default page size.
pub const DEFAULT_PAGE: i32 = 20;
/// Largest page size.
pub const MAX_PAGE: i32 = 100;

/// A page request, checked.
pub struct PageRequest<C> {
    /// How many items.
    pub first: usize,
    /// Start after this cursor.
    pub after: Option<C>,
}

impl<C> PageRequest<C> {
    /// Checks `first` and parses `after` with `cursor` (`None`: not a cursor
    /// of this connection).
    pub fn parse(
        first: i32,
        after: Option<String>,
        cursor: impl FnOnce(&str) -> Option<C>,
    ) -> ApiResult<PageRequest<C>> {
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::BadUserInput(format!(
                "'first' must be 1 to {MAX_PAGE} (default {DEFAULT_PAGE})"
            )));
        }
        let after = match after {
            Some(text) => Some(cursor(&text).ok_or_else(|| {
                ApiError::BadUserInput("'after' is not a cursor from this connection".into())
            })?),
            None => None,
        };
        Ok(PageRequest {
            first: first as usize,
            after,
        })
    }

    /// How many items to fetch: one more than asked, to see past the page.
    pub fn fetch(&self) -> usize {
        self.first + 1
    }

    /// The connection of `items` (as fetched), each with its cursor.
    pub fn connection<T, N: OutputType>(
        &self,
        mut items: Vec<T>,
        mut edge: impl FnMut(T) -> (String, N),
    ) -> Connection<String, N> {
        let has_next = items.len() > self.first;
        items.truncate(self.first);
        let mut connection = Connection::new(self.after.is_some(), has_next);
        connection.edges.extend(items.into_iter().map(|item| {
            let (cursor, node) = edge(item);
            Edge::new(cursor, node)
        }));
        connection
    }
}
