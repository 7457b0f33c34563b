"""A synthetic SQuAD-format data set for testing and measuring extractive QA end to end.

Each paragraph introduces several people with a few facts each (birthplace, birth year,
occupation, employer, instrument, pet); questions ask for one fact of one person. Every
paragraph holds several values of each kind, so an answer can only be found by linking the
asked-about person to the right sentence: reading, not keyword spotting. Unanswerable
questions (SQuAD v2) ask for a fact the paragraph does not state about a person it does
mention, while other people's facts of that kind are present as plausible distractors.

The "train" and "test" splits draw from disjoint pools of names, places, jobs and companies
and use different sentence and question templates, so a score on "test" measures reading of
unseen entities and unseen wording.

    python -m bertkit.tasks.qa.generate --split train --paragraphs 3000 --output train.json
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass

from bertkit.tasks.qa.squad import Answer, QAExample, write_squad

FIRST_NAMES = (
    "Ada Bruno Chiara Dmitri Elena Farid Greta Hiroshi Ingrid Jamal Katya Lars Maya Nikolai "
    "Olivia Pedro Quinn Rosa Stefan Tariq Ursula Viktor Wanda Xavier Yara Zoltan Amara Bjorn "
    "Camila Dario Esther Felix Gloria Hamid Irene Joaquin Kiran Leona Mateo Nadia Oskar Priya "
    "Rafael Saanvi Tomas Uma Vera Wim Ximena Yusuf Zoë Agnès Søren José Łucja Renée Jürgen "
    "Aiko Chidi Fatima Gustav Hana Ines Jonas Kofi Lina Marek Noor Otto Paula Ravi Selin"
).split()
SURNAMES = (
    "Abbott Becker Castillo Dubois Eriksen Ferreira Gallo Hartmann Ivanova Jensen Kowalski "
    "Lindqvist Moreau Novak Okafor Petrov Quintero Rossi Schneider Tanaka Ueda Varga Weber "
    "Xu Yilmaz Zielinski Almeida Brandt Costa Dahl Engel Fischer Grant Holm Iqbal Jovanovic "
    "Kaur Lambert Mendes Nilsson Olsen Park Russo Silva Tran Urban Vogel Walsh Young Zhang "
    "Müller Núñez Błaszczyk Çelik Sørensen Håkansson Ortega Bauer Conti Diaz Evans Falk"
).split()
CITIES = (
    "Lyon Porto Kraków Osaka Bergen Córdoba Tampere Gdańsk Utrecht Graz Bilbao Aarhus Brno "
    "Turin Leipzig Nantes Malmö Zürich Seville Ghent Dresden Geneva Valencia Split Bologna "
    "Tartu Kyoto Lagos Nairobi Recife Quito Hanoi Pune Perth Halifax Denver Austin Tucson "
    "Cusco Oaxaca Tbilisi Yerevan Izmir Tunis Accra Dakar Kochi Mysore Sapporo Busan"
).split()
OCCUPATIONS = (
    "pharmacist|architect|carpenter|geologist|violin teacher|translator|nurse|pilot|baker|"
    "librarian|dentist|surveyor|journalist|chemist|electrician|gardener|veterinarian|"
    "economist|photographer|plumber|astronomer|tailor|firefighter|cartographer|engineer|"
    "potter|lawyer|sculptor|beekeeper|mechanic|statistician|florist"
).split("|")
EMPLOYERS = (
    "Northwind Labs|Bluefield Foods|Orion Freight|Cedar Analytics|Kestrel Motors|Harbor Bank|"
    "Silverline Media|Greenway Energy|Atlas Textiles|Polaris Robotics|Maple Health|"
    "Ironbridge Steel|Sunrise Dairy|Quartz Software|Redwood Press|Lumen Optics|Vega Airlines|"
    "Falcon Logistics|Willow Pharma|Granite Works|Horizon Telecom|Juniper Farms|Nimbus Cloud|"
    "Crescent Hotels|Summit Insurance|Coral Shipping|Aurora Glass|Pinecrest Mills"
).split("|")
INSTRUMENTS = (
    "cello|trumpet|harp|accordion|banjo|oboe|flute|drums|clarinet|saxophone|ukulele|piano|"
    "viola|trombone|mandolin|bassoon|sitar|harmonica|xylophone|bagpipes"
).split("|")
PETS = (
    "a parrot|a tortoise|a beagle|two cats|a ferret|a goldfish|a rabbit|a hamster|a pony|"
    "an iguana|a poodle|three canaries|a gecko|a husky|a goat|a hedgehog"
).split("|")

ATTRIBUTES = ("city", "year", "occupation", "employer", "instrument", "pet")

# Statement templates: {name} is the person, {value} the fact. Train and test differ.
STATEMENTS = {
    "train": {
        "city": ["{name} was born in {value}.", "{name} grew up in {value}."],
        "year": ["{name} was born in {value}.", "{name} came into the world in {value}."],
        "occupation": ["{name} works as a {value}.", "By trade, {name} is a {value}."],
        "employer": ["{name} is employed by {value}.", "{name} took a job at {value}."],
        "instrument": [
            "{name} plays the {value}.",
            "In the evenings {name} practises the {value}.",
        ],
        "pet": ["{name} keeps {value} at home.", "{name} owns {value}."],
    },
    "test": {
        "city": ["{name} is a native of {value}.", "{name} spent a childhood in {value}."],
        "year": ["{name} was born in the year {value}.", "The birth of {name} was in {value}."],
        "occupation": ["{name} earns a living as a {value}.", "{name} trained to be a {value}."],
        "employer": ["{name} has worked for {value} for years.", "{name}'s employer is {value}."],
        "instrument": ["{name} is learning the {value}.", "{name} performs on the {value}."],
        "pet": ["{name} looks after {value}.", "At home, {name} has {value}."],
    },
}
QUESTIONS = {
    "train": {
        "city": ["Where was {name} born?", "In which city did {name} grow up?"],
        "year": ["In what year was {name} born?", "When was {name} born?"],
        "occupation": ["What is {name}'s job?", "What does {name} do for a living?"],
        "employer": ["Which company employs {name}?", "Where does {name} work?"],
        "instrument": ["Which instrument does {name} play?", "What does {name} practise?"],
        "pet": ["What pet does {name} have?", "What animal does {name} own?"],
    },
    "test": {
        "city": ["What is {name}'s home town?", "Which city is {name} from?"],
        "year": ["What is {name}'s year of birth?", "Which year was {name} born in?"],
        "occupation": ["What is the profession of {name}?", "What work does {name} do?"],
        "employer": ["Who is {name}'s employer?", "For which firm does {name} work?"],
        "instrument": ["What instrument does {name} play?", "Which instrument is {name}'s?"],
        "pet": ["Which animal lives with {name}?", "What kind of pet does {name} keep?"],
    },
}
FILLER = [
    "The town council met twice that spring.",
    "Rain fell for most of the week.",
    "Several new shops opened near the station.",
    "A festival took place by the river in summer.",
    "The old bridge was repaired after the storm.",
    "Local newspapers reported a quiet year.",
]
SPLITS = ("train", "test")


@dataclass
class _Person:
    first: str
    last: str
    facts: dict[str, str]


def _pool(items: list[str], split: str) -> list[str]:
    """Disjoint halves of a pool: even positions for train, odd for test."""
    return items[SPLITS.index(split) :: 2]


def _values(attribute: str, split: str) -> list[str]:
    if attribute == "year":
        # Train years are even, test years odd: no year value is shared.
        return [str(year) for year in range(1940 + SPLITS.index(split), 2010, 2)]
    pools = {
        "city": CITIES,
        "occupation": OCCUPATIONS,
        "employer": EMPLOYERS,
        "instrument": INSTRUMENTS,
        "pet": PETS,
    }
    return _pool(pools[attribute], split)


def generate(
    split: str = "train",
    num_paragraphs: int = 1000,
    *,
    seed: int = 0,
    unanswerable: float = 0.0,
    people_per_paragraph: tuple[int, int] = (3, 5),
    filler_sentences: int = 2,
) -> list[QAExample]:
    """Questions over `num_paragraphs` generated paragraphs of `split` ("train" or "test").

    `unanswerable` is the fraction of questions (0..1) that ask for an unstated fact.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if not 0.0 <= unanswerable < 1.0:
        raise ValueError(f"unanswerable must be in [0, 1), got {unanswerable}")
    rng = random.Random(f"{split}:{seed}")
    examples: list[QAExample] = []
    for paragraph_index in range(num_paragraphs):
        people = _people(rng, split, rng.randint(*people_per_paragraph))
        context, positions = _write_paragraph(rng, split, people, filler_sentences)
        for question_index, example in enumerate(
            _questions(rng, split, people, context, positions, unanswerable)
        ):
            example.id = f"{split}-{seed}-{paragraph_index}-{question_index}"
            example.title = f"{split} paragraph {paragraph_index}"
            examples.append(example)
    return examples


def _people(rng: random.Random, split: str, count: int) -> list[_Person]:
    firsts = rng.sample(_pool(FIRST_NAMES, split), count)
    lasts = rng.sample(_pool(SURNAMES, split), count)
    # Each attribute gets distinct values across the paragraph's people.
    columns = {attribute: rng.sample(_values(attribute, split), count) for attribute in ATTRIBUTES}
    people = []
    for index in range(count):
        stated = rng.sample(ATTRIBUTES, rng.randint(2, 4))
        facts = {attribute: columns[attribute][index] for attribute in stated}
        people.append(_Person(firsts[index], lasts[index], facts))
    return people


def _write_paragraph(
    rng: random.Random, split: str, people: list[_Person], filler_sentences: int
) -> tuple[str, dict[tuple[int, str], int]]:
    """The context and the character offset of every stated (person, attribute) value."""
    sentences: list[tuple[str, int | None, str | None]] = []  # text, person, attribute
    for person_index, person in enumerate(people):
        for fact_index, attribute in enumerate(person.facts):
            name = f"{person.first} {person.last}" if fact_index == 0 else person.first
            template = rng.choice(STATEMENTS[split][attribute])
            sentences.append((template.format(name=name, value="\0"), person_index, attribute))
    for _ in range(filler_sentences):
        position = rng.randint(0, len(sentences))
        sentences.insert(position, (rng.choice(FILLER), None, None))
    text, positions = "", {}
    for sentence, person_index, attribute in sentences:
        text += " " if text else ""
        if person_index is not None:
            value = people[person_index].facts[attribute]
            positions[(person_index, attribute)] = len(text) + sentence.index("\0")
            sentence = sentence.replace("\0", value)
        text += sentence
    return text, positions


def _questions(rng, split, people, context, positions, unanswerable) -> list[QAExample]:
    examples = []
    for (person_index, attribute), start in positions.items():
        person = people[person_index]
        examples.append(_question(rng, split, person, attribute, context, person.facts, start))
    unstated = [
        (index, attribute)
        for index, person in enumerate(people)
        for attribute in ATTRIBUTES
        if attribute not in person.facts
        and any(attribute in other.facts for other in people)  # a plausible distractor exists
    ]
    wanted = round(len(examples) * unanswerable / (1.0 - unanswerable))
    for person_index, attribute in rng.sample(unstated, min(wanted, len(unstated))):
        examples.append(_question(rng, split, people[person_index], attribute, context, {}, None))
    rng.shuffle(examples)
    return examples


def _question(rng, split, person, attribute, context, facts, start) -> QAExample:
    name = rng.choice([f"{person.first} {person.last}", person.first])
    question = rng.choice(QUESTIONS[split][attribute]).format(name=name)
    if start is None:
        return QAExample("", question, context, [], is_impossible=True)
    answer = Answer(facts[attribute], start)
    assert context[answer.start : answer.end] == answer.text
    return QAExample("", question, context, [answer])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bertkit.tasks.qa.generate",
        description="Write a synthetic SQuAD-format QA file (train and test splits differ in "
        "entities and wording).",
    )
    parser.add_argument("--split", choices=SPLITS, required=True)
    parser.add_argument("--paragraphs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--unanswerable",
        type=float,
        default=0.0,
        help="fraction of unanswerable questions; above 0 writes SQuAD v2.0",
    )
    parser.add_argument("--filler", type=int, default=2, help="filler sentences per paragraph")
    parser.add_argument("--output", required=True, help="SQuAD JSON file to write")
    args = parser.parse_args(argv)
    try:
        examples = generate(
            args.split,
            args.paragraphs,
            seed=args.seed,
            unanswerable=args.unanswerable,
            filler_sentences=args.filler,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_squad(examples, args.output, "v2.0" if args.unanswerable > 0 else "v1.1")
    impossible = sum(example.is_impossible for example in examples)
    print(f"wrote {len(examples)} questions ({impossible} unanswerable) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
