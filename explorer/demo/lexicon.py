"""The demo corpus' vocabulary: the basic words of children's stories, grouped by what they are.

Concept lists (``CONCEPT_WORDS``) label tokens for the concept-detection checks; the other lists
(verbs, adjectives, adverbs, plain nouns) only widen what the story generator can say. Word forms
(plurals, verb tenses) are derived by the usual English rules plus the irregular tables below.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GIRL_NAMES = _words(
    "Lily Mia Emma Anna Sara Lucy Ella Ruby Zoe Amy Kate Rose Nora Ava Grace Chloe Molly Daisy Hannah "
    "Sophie Lena Maya Julia Alice Emily Clara Ivy Jane Ellie Bella Sue Jill Sally Mary Susie Kitty Jenny "
    "Lisa Amber Rosa Priya Aisha Fatima Mei Yuki Sofia Lucia Ana Leila Zara Nia Ama Ingrid Olga Hana "
    "Amira Isla Freya Luna Eva Nina Tara Kim Jasmine Layla Abby Beth Holly Polly"
)
BOY_NAMES = _words(
    "Tom Ben Max Sam Tim Jack Leo Jake Finn Luke Noah Owen Adam Liam Ryan Eli Dan Joe Nick Paul Oscar "
    "Henry Theo Lucas Ethan Milo Oliver Jimmy Bobby Peter Timmy Billy Bob Mike John Daniel Johnny Kevin "
    "Carlos Diego Mateo Omar Ali Hamza Ravi Arjun Kenji Hiro Chen Wei Kofi Jamal Sven Ivan Pablo Luca "
    "Marco Hugo Felix Jonah Toby Charlie Harry George Fred Andy Danny"
)
PRONOUNS = ("he", "she", "him", "her", "his")
NUMBER_WORDS = _words("one two three four five six seven eight nine ten")
ORDINALS = _words("first second third fourth fifth last")

CONCEPT_WORDS: dict[str, tuple[str, ...]] = {
    "colour": _words("red blue green yellow pink purple orange white black brown gray gold silver"),
    "animal": _words(
        "cat dog bird rabbit bunny fox frog duck bear owl fish pig cow horse sheep lion tiger elephant "
        "monkey turtle squirrel puppy kitten bee butterfly mouse hen chicken goat donkey deer wolf "
        "snake spider ant bug ladybug worm snail whale dolphin shark crab penguin giraffe zebra "
        "kangaroo koala panda parrot swan goose chick lamb pony dinosaur dragon unicorn"
    ),
    "number": NUMBER_WORDS,
    "place": _words(
        "park forest garden beach school farm lake hill zoo pond field playground river market "
        "shop store house home kitchen bedroom library castle village town city mountain island "
        "jungle desert cave sea ocean yard street road bridge hospital bakery barn nest"
    ),
    "feeling": _words(
        "happy glad sad upset scared afraid angry excited proud tired surprised worried shy lonely calm "
        "grumpy nervous brave bored jealous curious cheerful sorry thankful silly sleepy hungry thirsty"
    ),
    "object": _words(
        "ball kite box hat cup book doll boat drum balloon shoe flower shell block crayon blanket key "
        "bell umbrella lamp toy teddy puzzle robot bike swing slide rope bucket shovel basket bag "
        "bottle bowl plate spoon fork brush comb mirror clock phone picture map coin ring necklace "
        "crown wand marble sticker card gift present pencil paper letter jar pillow"
    ),
    "family": _words(
        "mom dad mother father mommy daddy mama papa grandma grandpa granny brother sister baby aunt "
        "uncle cousin family parents son daughter grandmother grandfather"
    ),
    "body": _words(
        "head face eye ear nose mouth tooth hair hand arm leg foot knee finger toe tummy back neck "
        "cheek lip tongue shoulder tail wing paw beak fur"
    ),
    "food": _words(
        "apple banana cookie cake bread milk juice water soup cheese egg carrot pie candy sandwich "
        "pizza pancake honey jam berry grape pear peach cherry corn rice pasta chocolate icecream "
        "lemonade tea cereal popcorn muffin lunch breakfast dinner snack nut seed tomato potato bean"
    ),
    "weather": _words("rain snow wind sun sunshine cloud storm thunder lightning fog rainbow ice puddle"),
    "vehicle": _words("car bus truck train plane boat bike tractor ship rocket van taxi helicopter"),
    "time": _words(
        "morning afternoon evening night day week month year today tomorrow yesterday Monday Tuesday "
        "Wednesday Thursday Friday Saturday Sunday summer winter spring autumn minute hour"
    ),
}
# Nouns without a concept label: the rest of a child's world.
THINGS_AT_HOME = _words(
    "bed chair table door window floor wall roof stairs sofa rug bath sink towel soap cup bowl oven "
    "fridge shelf closet drawer garden gate fence room light candle toothbrush pan pot lid attic "
    "basement roof hose sponge flashlight trunk house"
)
CLOTHES = _words("coat scarf sock boot dress shirt jacket sweater glove mitten cap skirt pajamas clothes")
NATURE = _words(
    "tree flower grass leaf rock stone stick sand mud dirt hole stream sky star moon cloud wave "
    "branch bush seed plant shell feather pebble log web nest path hill rose daisy mushroom shore "
    "wave pine oak"
)
PEOPLE = _words(
    "friend teacher doctor nurse farmer baker king queen prince princess man woman boy girl lady "
    "child kid neighbor sailor policeman fireman pirate giant fairy witch wizard monster clown chef"
)
ABSTRACT = _words(
    "idea game story song secret surprise plan problem lesson question answer job turn race party "
    "trip picnic adventure dream wish name noise sound voice smile hug kiss help fun magic treasure truth "
    "present prize gift note photo music dance joke minute week"
)

IRREGULAR_PLURALS = {
    "mouse": "mice",
    "child": "children",
    "foot": "feet",
    "tooth": "teeth",
    "man": "men",
    "woman": "women",
    "person": "people",
    "goose": "geese",
    "leaf": "leaves",
    "wolf": "wolves",
    "knife": "knives",
    "loaf": "loaves",
    "shelf": "shelves",
    "scarf": "scarves",
    "fish": "fish",
    "sheep": "sheep",
    "deer": "deer",
    "policeman": "policemen",
    "fireman": "firemen",
}
UNCOUNTABLE = frozenset(
    _words(
        "milk juice water soup cheese bread honey jam rice pasta chocolate icecream lemonade tea cereal "
        "popcorn candy corn sand mud dirt grass rain snow wind sunshine fog ice thunder lightning fur hair "
        "breakfast lunch dinner fun magic help treasure"
    )
)


def plural(word: str) -> str:
    """The plural of a noun (regular rules plus IRREGULAR_PLURALS)."""
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if word.endswith(("s", "x", "sh", "ch", "z")) or word in ("potato", "tomato"):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


# Verbs: "base" for regular ones, "base/past/participle" for irregular ones.
_VERB_TABLE = """
run/ran/run walk jump hop skip swim/swam/swum fly/flew/flown dance climb crawl roll slide/slid/slid
spin/spun/spun race march sail ride/rode/ridden drive/drove/driven go/went/gone come/came/come
leave/left/left arrive return hurry rush wander float splash dive/dove/dived fall/fell/fallen
laugh smile cry sing/sang/sung sleep/slept/slept wait play rest shout giggle yawn sneeze listen nod wave
sit/sat/sat stand/stood/stood hide/hid/hidden stay cheer clap shiver whisper scream yell sigh frown
wake/woke/woken dream/dreamed/dreamed think/thought/thought wonder hope worry agree grow/grew/grown
see/saw/seen find/found/found like love want hold/held/held take/took/taken bring/brought/brought
carry pick drop throw/threw/thrown catch/caught/caught kick push pull touch hug kiss clean wash open
close fix break/broke/broken paint draw/drew/drawn make/made/made build/built/built buy/bought/bought
sell/sold/sold give/gave/given show/showed/shown share keep/kept/kept lose/lost/lost help need
eat/ate/eaten drink/drank/drunk bake cook taste smell feed/fed/fed plant water dig/dug/dug fill
read/read/read write/wrote/written count learn/learned/learned teach/taught/taught tell/told/told
say/said/said ask answer call hear/heard/heard watch look try use visit meet/met/met follow chase
bite/bit/bitten fight/fought/fought win/won/won forget/forgot/forgotten remember thank invite
save shake/shook/shaken wear/wore/worn tear/tore/torn blow/blew/blown cut/cut/cut put/put/put
let/let/let get/got/got have/had/had do/did/done be/was/been know/knew/known feel/felt/felt
begin/began/begun bring/brought/brought choose/chose/chosen spill/spilled/spilled tie wrap hang/hung/hung
knock kneel/knelt/knelt shine/shone/shone jog paddle collect decorate stir mix pour sweep/swept/swept
mop dry tidy lift join finish start stop pretend explore search discover notice point
move talk cover promise spray land step tuck scrub carve check turn save cross rock lead/led/led twinkle puff wipe crack bounce buzz bark meow quack roar hiss chirp squeak sniff lick scratch bump hit/hit/hit fold glue pack sew fit/fit/fit melt freeze/froze/frozen burn boil peel chew swallow blink peek kneel/knelt/knelt cuddle tickle smash squeeze grab trip slip dust sort stack balance guess laugh pet
"""
_DOUBLING = frozenset(
    _words(
        "run swim sit stop hop dig hug clap drop jog nap pat plan skip slip step tap trip wag chop grab hit "
        "get put cut shop spin win begin forget rub beg nod pop shut let set tip drip zip mop hum trot stir pet"
    )
)


def _participle_ing(base: str) -> str:
    if base in ("be", "see", "flee", "agree"):
        return base + "ing"
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    if base in _DOUBLING:
        return base + base[-1] + "ing"
    return base + "ing"


def _regular_past(base: str) -> str:
    if base.endswith("e"):
        return base + "d"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ied"
    if base in _DOUBLING:
        return base + base[-1] + "ed"
    return base + "ed"


def _third_person(base: str) -> str:
    special = {"have": "has", "do": "does", "go": "goes", "be": "is"}
    if base in special:
        return special[base]
    if base.endswith(("s", "x", "sh", "ch", "z")):
        return base + "es"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _verb_forms() -> dict[str, dict[str, str]]:
    forms: dict[str, dict[str, str]] = {}
    for entry in _VERB_TABLE.split():
        parts = entry.split("/")
        base = parts[0]
        past = parts[1] if len(parts) > 1 else _regular_past(base)
        participle = parts[2] if len(parts) > 2 else past
        forms[base] = {
            "base": base,
            "s": _third_person(base),
            "past": past,
            "ing": _participle_ing(base),
            "pp": participle,
        }
    return forms


VERBS: dict[str, dict[str, str]] = _verb_forms()

MISC_NOUNS = _words(
    "ground land side piece part pair wheel sound moment job pocket string wood corner top bottom middle "
    "end edge circle line shape word page sign color water fire smoke light shadow dark air world sky "
    "sea ocean hole wall gate bridge tower castle train track way thing place time second crumb treat "
    "bar nut goldfish cocoa sticker lesson promise"
)
COMPARATIVES = _words(
    "bigger smaller taller faster slower higher longer stronger better happier louder older younger "
    "warmer colder softer brighter darker closer farther"
)
SUPERLATIVES = _words("biggest smallest tallest fastest best happiest loudest oldest youngest prettiest")

# Verb groups the generator uses (base forms).
MOTION_VERBS = _words("run walk jump hop skip swim dance climb crawl roll slide spin race march hurry wander")
HAPPY_ACTS = _words("laugh smile sing dance giggle cheer clap play jump")
QUIET_ACTS = _words("sleep rest wait listen sit nod yawn whisper dream")
TOY_VERBS = _words("throw catch kick roll hold carry drop push pull find hide share")
MAKING_VERBS = _words("make build paint draw fix clean wash decorate")
SENSE_VERBS = _words("see hear find notice watch")
THING_VERBS = _words(
    "take bring carry pick drop throw catch kick push pull touch hug clean wash open close fix break "
    "paint draw make build buy sell give show share keep lose hold find see want like love need use hide "
    "fill collect decorate wrap tie lift spill shake wear tear cut get have forget remember choose hang "
    "count watch smell touch follow chase"
)
INTRANSITIVE_VERBS = _words(
    "run walk jump hop skip swim fly dance climb crawl roll slide spin race march sail ride drive go come "
    "leave arrive return hurry rush wander float splash dive fall laugh smile cry sing sleep wait play rest "
    "shout giggle yawn sneeze listen nod wave sit stand hide stay cheer clap shiver whisper scream yell sigh "
    "frown wake dream think wonder hope worry agree grow shine jog paddle explore search pretend begin "
    "finish start stop talk move cook bake eat drink read write count learn help try look kneel knock "
    "bark meow quack roar hiss chirp buzz squeak twinkle land step bounce melt blink peek trip slip"
)
PERSON_VERBS = _words("help hug thank invite visit meet call follow chase teach tell ask answer watch hear")

ADJECTIVES = _words(
    "big small little tiny huge tall short long round soft hard warm cold hot wet dry clean dirty "
    "new old young pretty beautiful ugly shiny bright dark loud quiet fast slow heavy light strong weak "
    "kind nice mean good bad funny smart wise gentle friendly busy lazy fluffy furry fuzzy sticky "
    "smooth rough sharp sweet sour yummy tasty delicious fresh juicy crunchy spicy magic special "
    "favorite wonderful amazing strange scary sunny rainy windy snowy cloudy stormy cozy messy neat "
    "empty full deep high low wide thin fat sparkly colorful tired careful wooden dusty poor rich sick "
    "fine cute lovely brave great little lost broken"
)
SIZE_ADJECTIVES = _words("big small little tiny huge tall long round")
LOOK_ADJECTIVES = _words("shiny bright pretty beautiful soft fluffy sparkly new old colorful smooth")
ADVERBS = _words(
    "quickly slowly happily sadly quietly loudly carefully gently softly suddenly finally together "
    "again away back down up outside inside very really always never often sometimes soon later now "
    "then today tomorrow yesterday still too also almost just only even"
)
PLACE_PREPOSITIONS = _words("in on under behind near beside above")
TIME_OPENERS = (
    "One day",
    "One morning",
    "One sunny day",
    "One cold morning",
    "One rainy afternoon",
    "The next day",
    "Later that day",
    "After lunch",
    "After breakfast",
    "That night",
    "That evening",
    "In the morning",
    "In the afternoon",
    "Every day",
    "Every morning",
    "On Saturday",
    "On Sunday",
    "Last summer",
    "One winter day",
    "In the spring",
    "Early in the morning",
    "Before dinner",
    "After school",
    "At bedtime",
)
