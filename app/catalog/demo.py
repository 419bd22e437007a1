"""A believable demo catalogue for a fresh shop (`flask seed-demo`): categories, products
with generated pictures stored through the storage adapter, and four featured products.

Everything goes through the catalogue services, so the demo data obeys the same rules
(validation, image cleaning, cache versioning) as data entered in the admin panel.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import exists, select

from app.catalog import services
from app.catalog.errors import CatalogErrorCode
from app.catalog.models import Category, Product
from app.core.errors import AppError
from app.extensions import db

# name -> (background colour, accent colour)
CATEGORIES = {
    "Kitchen": ((238, 214, 196), (170, 84, 52)),
    "Living Room": ((214, 224, 236), (52, 86, 140)),
    "Bedroom": ((232, 222, 240), (108, 74, 148)),
    "Garden": ((214, 234, 210), (54, 120, 62)),
    "Stationery": ((244, 236, 206), (160, 120, 24)),
    "Bath": ((208, 234, 236), (30, 120, 130)),
}

# (category, name, price, stock, description); descriptions use "\n" between paragraphs,
# which the storefront shows as separate lines.
PRODUCTS = [
    (
        "Kitchen",
        "Stoneware Mug",
        "9.50",
        40,
        "A generous 350 ml mug in speckled stoneware.\nDishwasher and microwave safe.",
    ),
    (
        "Kitchen",
        "Cast Iron Skillet",
        "34.00",
        12,
        "Pre-seasoned 26 cm skillet that goes from hob to oven.\nGets better with every use.",
    ),
    (
        "Kitchen",
        "Oak Chopping Board",
        "24.00",
        18,
        "Solid oak board with a juice groove.\nOil now and then to keep it looking new.",
    ),
    (
        "Kitchen",
        "Linen Tea Towel Set",
        "14.00",
        30,
        "Three stonewashed linen tea towels.\nAbsorbent, quick to dry and softer after each wash.",
    ),
    (
        "Kitchen",
        "Glass Storage Jars",
        "19.50",
        0,
        "Set of four airtight jars with bamboo lids.\nFor pasta, rice, coffee and everything else.",
    ),
    (
        "Kitchen",
        "Enamel Teapot",
        "27.00",
        9,
        "A 1.2 litre enamel teapot with a removable steel infuser.\nSuitable for all hobs.",
    ),
    (
        "Living Room",
        "Wool Throw",
        "59.00",
        14,
        "Soft lambswool throw, 130 x 180 cm.\nWoven in Wales.",
    ),
    (
        "Living Room",
        "Ceramic Table Lamp",
        "72.00",
        6,
        "Hand-glazed base with a linen drum shade.\nE27 bulb, not included.",
    ),
    (
        "Living Room",
        "Velvet Cushion",
        "22.00",
        25,
        "45 x 45 cm cotton velvet cover with a feather pad.\nHidden zip, removable for washing.",
    ),
    (
        "Living Room",
        "Walnut Side Table",
        "129.00",
        4,
        "Compact side table in solid walnut.\nAssembled in minutes, no tools needed.",
    ),
    (
        "Living Room",
        "Jute Rug",
        "89.00",
        7,
        "Hand-braided jute rug, 120 x 180 cm.\nBest in rooms without much moisture.",
    ),
    (
        "Living Room",
        "Brass Candle Holders",
        "18.00",
        0,
        "A pair of solid brass holders for standard dinner candles.",
    ),
    (
        "Bedroom",
        "Cotton Duvet Cover",
        "64.00",
        16,
        "Percale cotton, double size, with two pillowcases.\nCrisp and cool to sleep in.",
    ),
    (
        "Bedroom",
        "Linen Pillowcases",
        "26.00",
        20,
        "Pair of washed linen pillowcases with an envelope closure.",
    ),
    (
        "Bedroom",
        "Bedside Alarm Clock",
        "29.00",
        11,
        "Quiet sweep movement, no ticking.\nSoft backlight at the touch of a button.",
    ),
    (
        "Bedroom",
        "Merino Blanket",
        "95.00",
        5,
        "Fine merino blanket that keeps you warm without weight.\nMachine washable on wool cycle.",
    ),
    (
        "Bedroom",
        "Lavender Pillow Mist",
        "12.00",
        35,
        "Calming lavender and chamomile spray for pillows and linen, 100 ml.",
    ),
    (
        "Garden",
        "Galvanised Watering Can",
        "32.00",
        10,
        "Classic 5 litre watering can with a brass rose.\nRust resistant.",
    ),
    (
        "Garden",
        "Terracotta Pot Set",
        "21.00",
        22,
        "Three frost-resistant terracotta pots with saucers, 12, 15 and 18 cm.",
    ),
    (
        "Garden",
        "Pruning Shears",
        "18.50",
        17,
        "Bypass secateurs with carbon steel blades.\nFor stems up to 20 mm.",
    ),
    (
        "Garden",
        "Herb Seed Collection",
        "8.00",
        50,
        "Basil, parsley, chives, coriander and dill.\nSow indoors from March.",
    ),
    (
        "Garden",
        "Folding Garden Chair",
        "45.00",
        0,
        "Acacia wood chair that folds flat for winter storage.",
    ),
    (
        "Stationery",
        "Dot Grid Notebook",
        "11.00",
        45,
        "A5 notebook with 192 numbered pages of 100 gsm paper.\nLays flat when open.",
    ),
    (
        "Stationery",
        "Fountain Pen",
        "38.00",
        8,
        "Brass fountain pen with a medium steel nib.\nTakes standard international cartridges.",
    ),
    (
        "Stationery",
        "Desk Organiser",
        "16.00",
        19,
        "Recycled cardboard organiser with five compartments.",
    ),
    (
        "Stationery",
        "Weekly Planner",
        "13.50",
        27,
        "Undated planner, one week per spread.\nStart it whenever you like.",
    ),
    (
        "Stationery",
        "Watercolour Set",
        "24.00",
        13,
        "Twelve artist-grade pans in a tin with a travel brush.",
    ),
    (
        "Bath",
        "Waffle Bath Towel",
        "28.00",
        23,
        "Light, quick-drying waffle cotton towel, 70 x 140 cm.",
    ),
    (
        "Bath",
        "Olive Oil Soap",
        "6.00",
        60,
        "Cold-process soap made with olive oil and sea salt, 120 g.",
    ),
    (
        "Bath",
        "Bamboo Bath Mat",
        "19.00",
        15,
        "Slatted bamboo mat that dries quickly between showers.",
    ),
    ("Bath", "Ceramic Soap Dish", "9.00", 0, "Draining soap dish in matte white ceramic."),
    (
        "Bath",
        "Eucalyptus Bath Salts",
        "15.00",
        21,
        "Epsom and sea salts with eucalyptus oil, 500 g jar.",
    ),
]

FEATURED = ["Stoneware Mug", "Wool Throw", "Dot Grid Notebook", "Waffle Bath Towel"]


@dataclass(frozen=True)
class SeedSummary:
    categories: int
    products: int
    images: int
    featured: int


def total_steps() -> int:
    """Units of work reported to the progress callback."""
    return len(CATEGORIES) + len(PRODUCTS) + len(FEATURED)


def catalogue_is_empty() -> bool:
    has_rows = select(exists().select_from(Category)).union_all(
        select(exists().select_from(Product))
    )
    return not any(db.session.scalars(has_rows))


def render_picture(
    name: str, background: tuple, accent: tuple, *, seed: int, size: int = 800
) -> bytes:
    """A simple still life: a soft gradient, a few shapes in the accent colour, the name."""
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    for row in range(size):
        shade = 1 - 0.18 * row / size
        draw.line([(0, row), (size, row)], fill=tuple(int(c * shade) for c in background))
    centre = size // 2
    radius = size // 4
    shape = rng.choice(["circle", "square", "pill"])
    box = [centre - radius, centre - radius - 60, centre + radius, centre + radius - 60]
    if shape == "circle":
        draw.ellipse(box, fill=accent)
    elif shape == "square":
        draw.rounded_rectangle(box, radius=40, fill=accent)
    else:
        draw.rounded_rectangle(
            [box[0], box[1] + 60, box[2], box[3] - 60], radius=radius, fill=accent
        )
    for _ in range(3):
        x, y = rng.randint(80, size - 80), rng.randint(80, size // 2)
        r = rng.randint(12, 36)
        light = tuple(min(255, c + 60) for c in accent)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=light)
    font = ImageFont.load_default(size=54)
    text_width = draw.textlength(name, font=font)
    draw.text(((size - text_width) / 2, size - 170), name, fill=(40, 40, 40), font=font)
    output = io.BytesIO()
    image.save(output, format="JPEG", quality=88)
    return output.getvalue()


def seed_demo(*, on_step: Callable[[int], None] | None = None) -> SeedSummary:
    """Fill an empty catalogue with the demo data. Raises AppError when the catalogue
    already has categories or products. Side effects: rows through the catalogue services,
    one stored image per product, cache version bumps."""
    step = on_step or (lambda _n: None)
    if not catalogue_is_empty():
        db.session.rollback()
        raise AppError(
            "The catalogue is not empty; seed-demo only fills an empty shop",
            code=CatalogErrorCode.CATALOG_NOT_EMPTY,
        )
    db.session.rollback()
    category_ids: dict[str, int] = {}
    for name in CATEGORIES:
        category_ids[name] = services.create_category(name=name).id
        step(1)
    product_ids: dict[str, int] = {}
    images = 0
    for index, (category, name, price, stock, description) in enumerate(PRODUCTS):
        product = services.create_product(
            name=name,
            description=description,
            price=Decimal(price),
            stock=stock,
            category_id=category_ids[category],
        )
        product_ids[name] = product.id
        background, accent = CATEGORIES[category]
        picture = render_picture(name, background, accent, seed=index)
        services.set_product_image(
            product_id=product.id, data=picture, filename=f"{name.lower().replace(' ', '-')}.jpg"
        )
        images += 1
        step(1)
    for name in FEATURED:
        services.feature_product(product_id=product_ids[name])
        step(1)
    return SeedSummary(
        categories=len(category_ids),
        products=len(product_ids),
        images=images,
        featured=len(FEATURED),
    )
