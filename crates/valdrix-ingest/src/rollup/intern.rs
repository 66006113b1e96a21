//! Interned text: every distinct text of a rollup stored once, a record holding 4-byte ids.

use rustc_hash::FxHashMap;
use std::borrow::Cow;

/// The id of an absent text.
pub(crate) const NONE: u32 = u32::MAX;

/// Descriptive columns kept from the first line of each record, in this order.
pub(crate) const ATTRS: [&str; 21] = [
    "BillingPeriodEnd",
    "BillingAccountName",
    "SubAccountName",
    "ServiceCategory",
    "RegionName",
    "AvailabilityZone",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "SkuPriceId",
    "ChargeFrequency",
    "ChargeDescription",
    "CommitmentDiscountName",
    "CommitmentDiscountType",
    "CommitmentDiscountCategory",
    "ConsumedUnit",
    "PricingUnit",
    "InvoiceId",
    "PublisherName",
    "InvoiceIssuerName",
    "PricingCurrency",
];

/// Grain fields as interned ids: provider, account, sub-account, charge day, billing period,
/// service, region, resource, usage type, charge category and class, pricing category,
/// commitment id and status, tags, currency.
pub(crate) type Key = [u32; 15];

/// Descriptive columns of a record as interned ids, in [`ATTRS`] order.
pub(crate) type Attrs = [u32; ATTRS.len()];

/// Interned text: each distinct string is stored once.
#[derive(Default)]
pub(crate) struct Interner {
    pub(crate) ids: FxHashMap<Box<str>, u32>,
    pub(crate) strings: Vec<Box<str>>,
    /// While a batch is open: text borrowed from the batch's buffers, by address and length. The
    /// same dictionary value is the same bytes at the same address for the whole batch, so this
    /// skips hashing and comparing the text; cleared when the batch ends, before buffers go.
    pub(crate) by_address: FxHashMap<(usize, usize), u32>,
    pub(crate) batch_open: bool,
    /// What was wrong with the first new text that a bill cannot hold (a control character, an
    /// oversized field): every text of every reader is interned here, each distinct one once,
    /// so this is where it is checked. The line's reader takes it and names the column.
    pub(crate) bad: Option<String>,
}

impl Interner {
    // The Cow itself matters here: only borrowed text has a stable address for the batch.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn cow(&mut self, s: &Cow<'_, str>) -> u32 {
        match s {
            Cow::Borrowed(b) if self.batch_open => {
                let addr = (b.as_ptr() as usize, b.len());
                if let Some(&i) = self.by_address.get(&addr) {
                    return i;
                }
                let i = self.id(b);
                self.by_address.insert(addr, i);
                i
            }
            _ => self.id(s),
        }
    }

    pub(crate) fn cow_opt(&mut self, s: &Option<Cow<'_, str>>) -> u32 {
        s.as_ref().map_or(NONE, |s| self.cow(s))
    }

    /// The id of `s`, interning it when new (and checking it: see [`Interner::take_bad`]).
    pub(crate) fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        if self.bad.is_none() {
            if let Err(e) = crate::validate::check_text("", s) {
                self.bad = Some(e.message);
            }
        }
        self.insert(s)
    }

    /// What was wrong with a text interned since the last call, if anything.
    pub(crate) fn take_bad(&mut self) -> Option<String> {
        self.bad.take()
    }

    /// Interns `s` unchecked (the canonical tag text, whose separators are control characters).
    pub(crate) fn insert(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.into());
        self.ids.insert(s.into(), i);
        i
    }

    /// The id of `s`, or [`NONE`].
    pub(crate) fn opt(&mut self, s: Option<&str>) -> u32 {
        s.map_or(NONE, |s| self.id(s))
    }

    /// The text of id `i`; `None` for [`NONE`].
    pub(crate) fn get(&self, i: u32) -> Option<&str> {
        (i != NONE).then(|| &*self.strings[i as usize])
    }
}
