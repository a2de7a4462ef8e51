"""Issue identifier handles once and keep them: silver.identifier across rebuilds.

Every enterprise of the golden record, every equipment and production line of the master data and every
registered data product (先登记再流通: an unregistered product gets no handle) is an identified object.
A handle is derived from the object's stable keys (warehouse/identifiers.py: handle_for), and a handle
already issued is kept as it is, with its first `issued_at`, whatever the node setting or the rebuild:
the table only ever gains handles. An object that is gone (equipment dropped from the master data), an
enterprise no longer active, or a product whose registration was revoked or expired keeps its handle as
`revoked`; the handle is never given to another object, and comes back `active` only if the same object
does.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from warehouse.codes import uscc_problem
from warehouse.identifiers import handle_for
from warehouse.registry import IDENTIFIER

_OBJECT = {"object_type": pl.String, "object_key": pl.String, "uscc": pl.String, "active": pl.Boolean}


def identified_objects(
    enterprises: pl.DataFrame, equipment: pl.DataFrame, products: pl.DataFrame, *, now: dt.datetime
) -> pl.DataFrame:
    """(object_type, object_key, uscc, active) of everything that gets a handle.

    enterprises: current golden records; equipment: silver.equipment; products: silver.data_product.
    """
    ent = enterprises.select(
        pl.lit("enterprise").alias("object_type"),
        pl.col("uscc").alias("object_key"),
        "uscc",
        (pl.col("status") == "active").fill_null(False).alias("active"),
    )
    eq = equipment.select(
        pl.lit("equipment").alias("object_type"),
        pl.col("equipment_id").alias("object_key"),
        "uscc",
        pl.lit(True).alias("active"),
    )
    lines = (
        equipment.filter(pl.col("line_id").is_not_null())
        .group_by("line_id")
        .agg(pl.col("uscc").sort().first())
        .select(
            pl.lit("line").alias("object_type"),
            pl.col("line_id").alias("object_key"),
            "uscc",
            pl.lit(True).alias("active"),
        )
    )
    registered = products.filter(pl.col("registration_no").is_not_null())
    dp = registered.select(
        pl.lit("data_product").alias("object_type"),
        pl.col("product_id").alias("object_key"),
        pl.col("provider_uscc").alias("uscc"),
        (
            pl.col("revoked_at").is_null()
            & (
                pl.col("expired_at").is_null()
                | (pl.col("expired_at") > pl.lit(now, IDENTIFIER.schema["issued_at"]))
            )
        ).alias("active"),
    )
    objects = pl.concat([ent, eq, lines, dp]).cast(_OBJECT)
    valid = objects["uscc"].map_elements(lambda u: uscc_problem(u) is None, return_dtype=pl.Boolean)
    return (
        objects.filter(valid & pl.col("object_key").is_not_null() & (pl.col("object_key") != ""))
        .unique(["object_type", "object_key"], keep="first", maintain_order=True)
        .sort("object_type", "object_key")
    )


def issue_identifiers(
    issued: pl.DataFrame, objects: pl.DataFrame, *, node: str, now: dt.datetime
) -> pl.DataFrame:
    """silver.identifier after this build: every handle already issued kept, new objects given one."""
    issued = IDENTIFIER.conform(issued)
    ts = pl.lit(now, IDENTIFIER.schema["issued_at"])
    kept = issued.join(
        objects.select("object_type", "object_key", "active"), on=["object_type", "object_key"], how="left"
    ).with_columns(pl.col("active").fill_null(False))
    kept = kept.with_columns(
        pl.when(pl.col("active")).then(pl.lit("active")).otherwise(pl.lit("revoked")).alias("status"),
        pl.when(pl.col("active"))
        .then(pl.lit(None, IDENTIFIER.schema["revoked_at"]))
        .when(pl.col("status") == "revoked")
        .then(pl.col("revoked_at"))  # already revoked: keep when
        .otherwise(ts)
        .alias("revoked_at"),
    ).drop("active")
    new = objects.join(
        issued.select("object_type", "object_key"), on=["object_type", "object_key"], how="anti"
    )
    new = new.select(
        pl.struct("uscc", "object_type", "object_key")
        .map_elements(
            lambda r: handle_for(node, r["uscc"], r["object_type"], r["object_key"]), return_dtype=pl.String
        )
        .alias("handle"),
        "object_type",
        "object_key",
        "uscc",
        ts.alias("issued_at"),
        pl.when(pl.col("active")).then(pl.lit("active")).otherwise(pl.lit("revoked")).alias("status"),
        pl.when(pl.col("active"))
        .then(pl.lit(None, IDENTIFIER.schema["revoked_at"]))
        .otherwise(ts)
        .alias("revoked_at"),
    )
    out = pl.concat([kept.select(list(IDENTIFIER.schema)), new.cast(dict(IDENTIFIER.schema))])
    clash = out.filter(pl.col("handle").is_duplicated())
    if clash.height:
        raise ValueError(
            f"{clash.height} identifier rows share a handle (e.g. {clash['handle'][0]}): a handle names one object"
        )
    return out.sort("handle")


def changes(before: pl.DataFrame, after: pl.DataFrame) -> dict[str, int]:
    """Handles issued, revoked and reactivated by a build (for the asset's metadata)."""
    prev = before.select("handle", pl.col("status").alias("was"))
    joined = after.join(prev, on="handle", how="left")
    return {
        "issued": joined.filter(pl.col("was").is_null()).height,
        "revoked": joined.filter((pl.col("was") == "active") & (pl.col("status") == "revoked")).height,
        "reactivated": joined.filter((pl.col("was") == "revoked") & (pl.col("status") == "active")).height,
        "active": after.filter(pl.col("status") == "active").height,
    }


def product_handles(products: pl.DataFrame, issued: pl.DataFrame | None, *, node: str) -> pl.DataFrame:
    """(product_id, product_handle) of registered products: the handle issued, else the one the next
    identifier build will issue (the same pure function of the provider's USCC and the product id)."""
    if "provider_uscc" not in products.columns:  # a products frame reduced to the registration fields
        return pl.DataFrame(schema={"product_id": pl.String, "product_handle": pl.String})
    registered = products.filter(pl.col("registration_no").is_not_null()).select(
        "product_id", pl.col("provider_uscc").alias("uscc")
    )
    valid = registered["uscc"].map_elements(lambda u: uscc_problem(u) is None, return_dtype=pl.Boolean)
    derived = registered.filter(valid).with_columns(
        pl.struct("uscc", "product_id")
        .map_elements(
            lambda r: handle_for(node, r["uscc"], "data_product", r["product_id"]), return_dtype=pl.String
        )
        .alias("derived")
    )
    kept = (
        issued.filter(pl.col("object_type") == "data_product").select(
            pl.col("object_key").alias("product_id"), pl.col("handle").alias("kept")
        )
        if issued is not None
        else pl.DataFrame(schema={"product_id": pl.String, "kept": pl.String})
    )
    return derived.join(kept, on="product_id", how="left").select(
        "product_id", pl.coalesce("kept", "derived").alias("product_handle")
    )
