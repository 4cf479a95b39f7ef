"""The product catalog as a device keeps it: the hub's signed, retained ProductCatalog
(tapcard.wire.messages), received by the link like the rules, kept in the document
store so that it survives a restart and serves offline, and looked up by SKU, barcode
(what a USB scanner types) and name in either language.

The device only shows and quotes with it: the hub prices every sale line again by its
SKU with its own catalog (tapcard.domain.products), whatever the device sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

from tapcard.device.docstore import DocStore
from tapcard.domain import products
from tapcard.domain.engine import Pricing, SaleLine
from tapcard.domain.overrides import branch_products
from tapcard.domain.products import Product
from tapcard.domain.rules import RuleSet
from tapcard.wire import messages as m

log = logging.getLogger(__name__)

PRODUCTS_DOC: Final = "products"
SEARCH_RESULTS_MAX: Final = 50  # a picker shows this many; typing more narrows it


@dataclass(frozen=True, slots=True)
class DeviceCatalog:
    version: int = 0  # 0: no catalog has reached this device
    by_sku: Mapping[str, Product] = field(default_factory=dict)
    by_barcode: Mapping[str, Product] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: m.ProductCatalog | None) -> DeviceCatalog:
        if doc is None:
            return cls()
        by_sku = {p.sku: p for p in doc.products}
        return cls(doc.version, by_sku, products.by_barcode(doc.products))

    def for_rules(self, rules: RuleSet) -> DeviceCatalog:
        """This catalog as the device's effective rules sell it (their branch's and its
        own prices, without what they do not sell); itself when they change nothing."""
        by_sku = branch_products(self.by_sku, rules)
        if by_sku is self.by_sku:
            return self
        return DeviceCatalog(self.version, by_sku, products.by_barcode(list(by_sku.values())))

    def scanned(self, code: str) -> Product | None:
        """The product a scanned code names: its barcode, else its SKU (a label printed
        in the shop may carry the SKU)."""
        code = code.strip()
        return self.by_barcode.get(code) or self.by_sku.get(code)

    def search(self, text: str, limit: int = SEARCH_RESULTS_MAX) -> list[Product]:
        """Products whose SKU, barcode or name in Chinese or English holds `text`
        (case-blind), by SKU; all of them (up to `limit`) for an empty text."""
        needle = text.strip().casefold()
        found: list[Product] = []
        for sku in sorted(self.by_sku):
            p = self.by_sku[sku]
            fields = (p.sku, p.barcode, p.name_zh, p.name_en)
            if not needle or any(needle in f.casefold() for f in fields):
                found.append(p)
                if len(found) >= limit:
                    break
        return found

    def priced(
        self, tier: str, lines: Sequence[SaleLine]
    ) -> tuple[Sequence[SaleLine], Pricing | None]:
        """The lines and pricing as the hub will price them for a member of `tier`
        (no catalog: as they are, with the rules' price lists)."""
        if not self.by_sku:
            return lines, None
        repriced = products.reprice(self.by_sku, tier, lines)
        return repriced.lines, repriced.pricing


class CatalogKeeper:
    """The catalog a device holds now, and where it keeps it across restarts."""

    def __init__(self, docs: DocStore, device_id: str) -> None:
        self._docs = docs
        self._device_id = device_id
        self.current = DeviceCatalog.of(docs.get_typed(PRODUCTS_DOC, m.ProductCatalog))

    def take(self, doc: m.ProductCatalog) -> None:
        """A newer catalog from the hub (the link checked its signature and version)."""
        assert doc.version > self.current.version
        self._docs.put(PRODUCTS_DOC, msgspec.to_builtins(doc))
        self.current = DeviceCatalog.of(doc)
        log.info(
            "device %s took product catalog %d (%d products)",
            self._device_id,
            doc.version,
            len(doc.products),
        )

    def version(self) -> int:
        return self.current.version
