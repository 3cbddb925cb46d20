"""English post templates for the simulator, and rendering them with network-specific mention tokens.

A template holds content slots (``{product}``, ``{n}``, ...) filled when the text is chosen, and
structural tokens filled by each network's encoder: ``{co}`` (the company: a mention or its name),
``{p}`` (another account), ``{url}`` (the author's website) and ``{tag}`` (a hashtag). Negative
templates are written to be clearly negative for a VADER-style lexicon.
"""

from __future__ import annotations

import random
import re

COMPLAINT = (
    "{co} my {product} arrived broken and support ignored me for a week. Worst service ever.",
    "{co} I've been on hold for {n} hours. This is ridiculous and I am furious.",
    "Really disappointed with {co}. My {product} died after {n} days and nobody will help. Terrible.",
    "{co} you charged me twice for my {product} and refuse to refund. Terrible, awful company.",
    "Never buying from {co} again. The {product} is junk, support is useless and I am so angry.",
    "{co} worst customer experience I have ever had. Cancelled my order, still no refund after {n} weeks.",
    "Hey {co}, your app keeps crashing and I lost all my data. Absolutely horrible.",
    "{co} the delivery is {n} days late again. So frustrated and angry, I want my money back.",
    "Shame on {co} for ignoring loyal customers. Broken {product}, rude staff, no apology.",
    "{co} your latest update ruined the {product}. Everything is slow and buggy. I hate it.",
    "I regret ever trusting {co}. Damaged {product}, fake promises, terrible support. Awful.",
    "Thinking of cancelling my {co} subscription. Bad quality, awful service, a total waste of money.",
)
PRAISE = (
    "Huge thanks to {co} support, they fixed my {product} issue in {n} minutes. Amazing service!",
    "Loving my new {product} from {co}. Best purchase this year!",
    "{co} just made my day. Fast delivery, great quality, really happy.",
    "Shoutout to {co} for the excellent customer care. You folks are awesome.",
    "My {product} from {co} still works perfectly after {n} years. Great job.",
    "{co} nailed it with the new release. Beautiful design and super easy to use.",
    "Impressed by {co}: friendly staff, quick refund, no hassle. Highly recommend.",
    "Can't stop recommending {co} to friends. The {product} is brilliant.",
)
QUESTION = (
    "{co} does the {product} work with {platform}?",
    "Anyone know if {co} ships to {country}?",
    "{co} how do I reset my account password? The link in the email expired.",
    "Is the {co} {product} worth it or should I wait for the next version?",
    "{co} what is the warranty on the {product}?",
    "Quick question for {co}: can I change my delivery address after ordering?",
    "Has anyone tried the new {product} from {co}? How is the battery life?",
    "{co} when will the {product} be back in stock?",
)
PURCHASE = (
    "Thinking about buying the {product} from {co}, any recommendations before I order?",
    "Ready to upgrade to the {co} {product} next week. Which bundle should I get?",
    "Saving up for a {product} from {co}. Anyone got a discount code?",
    "{co} I want to order {n} of the {product} for my team. Do you offer business pricing?",
    "About to buy the {co} {product}, is the pro version worth the extra money?",
    "Looking to switch to {co} this month. Where can I book a demo?",
    "Need a new {product} and {co} looks like the best option. Planning to buy on {weekday}.",
)
ANNOUNCE = (
    "New: the {product} now ships free on every order. Details on our site {url}",
    "We're hiring support engineers in {city}! Come build with us.",
    "Scheduled maintenance tonight from 2 to 4 UTC. Thanks for your patience.",
    "Our {product} update is rolling out today with faster sync and lots of fixes.",
    "Meet the new {product}: lighter, quieter and twice the battery. {tag}",
)
SUPPORT_REPLY = (
    "{p} so sorry about this! Please send us a DM with your order number and we will make it right.",
    "{p} thanks for flagging this, our team is looking into it now.",
    "{p} we hear you. A specialist will reach out today to sort out your refund.",
)
CHATTER = (
    "Morning coffee and a long to-do list. Let's go.",
    "Weekend plans: {interest}, cooking, and zero screens.",
    "Hot take: {interest} is underrated.",
    "Working on a new {interest} project, will share soon. {tag}",
    "Anyone going to the {interest} meetup in {city} on {weekday}?",
    "New post on my blog about {interest}: {url}",
    "{p} great thread, thanks for sharing!",
    "{p} totally agree with this.",
    "Finally finished the book everyone recommended. Worth it.",
    "The light in {city} this evening is unreal.",
    "Spent the whole afternoon on {interest} and I regret nothing. {tag}",
    "Is it just me or is {weekday} the longest day of the week?",
    "Reading {p} on {interest} this morning, good stuff.",
    "Small win today: fixed the thing that has been bugging me for a month.",
    "Who else is into {interest}? Looking for people to follow.",
    "Trying a new recipe tonight, wish me luck.",
)
REPLY_CHATTER = (
    "{p} haha exactly",
    "{p} thanks, this helped a lot!",
    "{p} I see it differently, but good points.",
    "{p} congrats, well deserved!",
    "{p} same here, happened to me last week.",
    "{p} do you have a link for that?",
    "{p} this is the way.",
)
INTENTS: dict[str, tuple[str, ...]] = {
    "complaint": COMPLAINT,
    "praise": PRAISE,
    "question": QUESTION,
    "purchase_intent": PURCHASE,
}
INTENT_WEIGHTS = (0.35, 0.25, 0.25, 0.15)

_SLOTS = {
    "product": (
        "order",
        "headphones",
        "laptop",
        "subscription",
        "smart speaker",
        "coffee maker",
        "router",
        "running shoes",
        "phone",
        "blender",
        "e-bike",
        "thermostat",
    ),
    "platform": ("Android", "iOS", "Linux", "Windows", "my Mac", "a Chromebook"),
    "country": ("Canada", "Germany", "Brazil", "Japan", "Australia", "Ireland", "Kenya", "Mexico"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "city": ("Berlin", "Lisbon", "Toronto", "Austin", "Nairobi", "Melbourne", "Osaka", "Dublin"),
    "interest": (
        "gardening",
        "cycling",
        "open source",
        "baking",
        "retro games",
        "climbing",
        "jazz",
        "photography",
    ),
    "n": ("2", "3", "4", "5", "6", "10", "12"),
}
_SLOT_RE = re.compile(r"\{(product|platform|country|weekday|city|interest|n)\}")
#: neutral endings (no sentiment, no intent) that make most texts distinct, as a real firehose's
#: are: with the templates alone only a third of the company mentions were distinct, and the intent
#: model's cache answered the rest (benchmarks/RESULTS.md)
DETAILS = (
    " Order {id}.",
    " Ref {id}.",
    " Case number {id}.",
    " (from {city}, {weekday})",
    " Posted {weekday} {hh}:{mm}.",
    " Day {n}, account {id}.",
)
#: the share of texts that get no ending
PLAIN_SHARE = 0.1
_TOKEN_RE = re.compile(r"\{(co|p|url|tag)\}")
TAGS = ("photography", "opensource", "gardening", "cycling", "coffee", "gamedev", "books", "music")


def detail(rng: random.Random) -> str:
    """A neutral ending for a text (empty for ``PLAIN_SHARE`` of them), content slots filled."""
    if rng.random() < PLAIN_SHARE:
        return ""
    ending = rng.choice(DETAILS)
    ending = ending.replace("{id}", str(rng.randrange(10_000, 1_000_000)))
    ending = ending.replace("{hh}", f"{rng.randrange(24):02d}").replace("{mm}", f"{rng.randrange(60):02d}")
    return fill(ending, rng)


def fill(template: str, rng: random.Random, interest: str | None = None) -> str:
    """Fill the content slots; the structural tokens stay for the encoder."""

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "interest" and interest:
            return interest
        return rng.choice(_SLOTS[key])

    return _SLOT_RE.sub(sub, template)


def render(template: str, tokens: dict[str, str]) -> tuple[str, list[tuple[str, int, int]]]:
    """Substitute the structural tokens; return the text and each token's (key, start, end) in characters.

    A token missing from ``tokens`` is dropped together with one adjacent space.
    """
    out: list[str] = []
    spans: list[tuple[str, int, int]] = []
    pos = 0
    length = 0
    for m in _TOKEN_RE.finditer(template):
        chunk = template[pos : m.start()]
        value = tokens.get(m.group(1), "")
        if not value and chunk.endswith(" "):
            chunk = chunk[:-1]
        out.append(chunk)
        length += len(chunk)
        pos = m.end()
        if value:
            spans.append((m.group(1), length, length + len(value)))
            out.append(value)
            length += len(value)
        elif not chunk and template[pos : pos + 1] == " ":
            pos += 1
    out.append(template[pos:])
    return "".join(out), spans


def byte_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Character offsets to UTF-8 byte offsets (Bluesky facets index bytes)."""
    b0 = len(text[:start].encode())
    return b0, b0 + len(text[start:end].encode())
