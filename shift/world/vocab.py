"""Word lists of the tiny world: general topics, rare subdomains, people's names and places.

Every list is ordered from common to rare: the corpus generator samples list items with Zipf weights
by position, so the first words of a list are the topic's frequent words and the last its tail.
Lists are space-separated strings (multi-word items use `_`, turned into spaces when written).
"""

from __future__ import annotations


def words(s: str) -> tuple[str, ...]:
    return tuple(w.replace("_", " ") for w in s.split())


# A general topic: nouns, adjectives, past-tense verbs (taking an object), and templates of its own.
# Template slots: {N} noun, {A} adjective, {V} verb, {Name} a person (with {he} {He} {his} {him}
# referring to that person), {City}, {Num} a number,
# {Year}, {Day}, {I} an insult (toxic only). Generic templates (GENERIC_TEMPLATES) are shared by all general topics.
GENERAL_TOPICS: dict[str, dict] = {
    "sports": dict(
        nouns=words(
            "team game match season coach player goal ball league fans stadium score championship "
            "referee tournament striker defense title trophy final training injury captain pitch "
            "record contract transfer playoff racket goalkeeper sprint medal"
        ),
        adjs=words("final strong young winning tough fast home away crucial brilliant late early"),
        verbs=words(
            "won lost scored played beat defended signed coached trained missed blocked passed"
        ),
        templates=(
            "{Name} scored twice as the {N} beat their rivals {Num} to {Num}.",
            "The coach said the {N} needs a {A} {N} before the playoffs.",
            "Fans filled the stadium to watch the {A} match on {Day}.",
            "After the injury, {Name} missed the rest of the season.",
        ),
    ),
    "cooking": dict(
        nouns=words(
            "recipe dish sauce oven flour butter garlic onion pasta soup salad kitchen chicken "
            "cheese bread dough pan spoon pepper salt dessert cake sugar lemon herbs rice broth "
            "skillet marinade saffron"
        ),
        adjs=words("fresh warm crispy sweet spicy golden creamy simple tender rich savory smoky"),
        verbs=words("baked cooked stirred chopped mixed roasted seasoned boiled tasted served"),
        templates=(
            "Stir the {N} into the {N} and let it simmer for {Num} minutes.",
            "Preheat the oven and brush the {N} with a little butter.",
            "This {A} {N} goes well with a {A} salad.",
            "Season with salt and pepper, then add the {N}.",
        ),
    ),
    "weather": dict(
        nouns=words(
            "rain forecast storm wind temperature snow cloud sunshine morning afternoon front "
            "showers humidity fog thunder heat frost drizzle breeze hail pressure drought flood "
            "coast valley gusts"
        ),
        adjs=words("cold warm heavy light sunny cloudy wet dry windy mild chilly stormy"),
        verbs=words("brought reached hit covered cleared moved warned lowered raised soaked"),
        templates=(
            "Expect {A} skies this {Day} with a high of {Num} degrees.",
            "A {A} front will bring rain to the coast by the evening.",
            "Forecasters warned of strong winds and heavy {N} overnight.",
            "Temperatures will drop to {Num} degrees after the {N} passes.",
        ),
    ),
    "finance": dict(
        nouns=words(
            "market stock price bank investor rate fund shares dollar inflation budget profit "
            "earnings loan debt bond savings economy revenue index trader portfolio tax credit "
            "dividend mortgage currency deficit"
        ),
        adjs=words("higher lower strong weak quarterly annual global steady volatile modest"),
        verbs=words("raised cut lifted dropped boosted reported reduced sold bought borrowed"),
        templates=(
            "Shares rose {Num} percent after the company reported strong {N}.",
            "The central bank kept the interest rate unchanged on {Day}.",
            "Investors worried that {A} inflation would hurt the {N}.",
            "Analysts expect {A} earnings in the next quarter.",
        ),
    ),
    "travel": dict(
        nouns=words(
            "trip hotel flight beach city airport ticket tour island luggage passport guide "
            "museum village train journey resort view cruise map hostel border harbor temple "
            "backpack itinerary"
        ),
        adjs=words("beautiful quiet crowded cheap popular local ancient scenic sunny remote"),
        verbs=words("visited booked explored reached toured crossed missed packed found enjoyed"),
        templates=(
            "We spent {Num} days in {City} and loved every minute.",
            "The best time to visit the {N} is early in the morning.",
            "Book your {N} early, because the {A} season fills up fast.",
            "From the hotel it is a short walk to the old {N}.",
        ),
    ),
    "music": dict(
        nouns=words(
            "song album band concert guitar singer tour stage melody drums piano chorus lyrics "
            "record fans track studio rhythm orchestra festival violin single tune chord bass "
            "encore vinyl"
        ),
        adjs=words("new live loud catchy soft classic acoustic famous sold-out debut"),
        verbs=words("released played recorded performed sang wrote toured mixed covered heard"),
        templates=(
            "The band released a {A} album after {Num} years away.",
            "{Name} played the guitar while the crowd sang the chorus.",
            "Tickets for the {A} concert sold out in {Num} minutes.",
            "The new single has a {A} melody and a {A} chorus.",
        ),
    ),
    "gardening": dict(
        nouns=words(
            "garden soil seeds plants tomatoes roses compost water flowers leaves weeds spring "
            "pots bulbs hedge lawn shovel mulch fertilizer seedlings vines beds orchard pruning "
            "greenhouse"
        ),
        adjs=words("green sunny shady healthy wet dry young fragrant hardy tall"),
        verbs=words("planted watered pruned dug grew picked trimmed weeded sowed mulched"),
        templates=(
            "Plant the {N} in a sunny spot and water them every {Day}.",
            "Add compost to the soil before you sow the {N}.",
            "Our {A} tomatoes grew {Num} feet tall this summer.",
            "Cut back the roses after the last frost.",
        ),
    ),
    "technology": dict(
        nouns=words(
            "phone app software computer update device battery screen data internet users "
            "laptop network chip cloud browser camera password feature server startup code "
            "keyboard router gadget firmware"
        ),
        adjs=words("new fast smart faster cheaper wireless digital online secure portable"),
        verbs=words("launched updated released installed fixed tested built upgraded shipped"),
        templates=(
            "The new phone has a bigger screen and a {A} battery.",
            "Users can download the {A} app for free starting {Day}.",
            "The update fixes a bug that drained the {N}.",
            "The company sold {Num} million devices last year.",
        ),
    ),
    "politics": dict(
        nouns=words(
            "election government vote minister party law senator campaign president bill "
            "council policy debate reform voters mayor parliament candidate governor budget "
            "coalition poll ballot committee"
        ),
        adjs=words("national local public new controversial federal key close bitter popular"),
        verbs=words("passed signed rejected proposed announced won criticized debated backed"),
        templates=(
            "The council voted {Num} to {Num} to approve the {A} budget.",
            "The senator announced a campaign for governor on {Day}.",
            "Voters will decide the {N} in the election next month.",
            "Critics said the {A} bill would raise taxes.",
        ),
    ),
    "movies": dict(
        nouns=words(
            "film movie actor director scene story cast sequel trailer audience screen script "
            "character villain hero festival premiere studio ending comedy thriller drama "
            "soundtrack cinema"
        ),
        adjs=words("funny dark long thrilling slow beautiful original animated boring epic"),
        verbs=words("directed starred filmed watched released loved praised shot reviewed"),
        templates=(
            "The film opens with a {A} scene in a small town.",
            "Critics praised the cast but called the ending {A}.",
            "The sequel earned {Num} million dollars on its first weekend.",
            "{Name} plays a {A} villain in the new movie.",
        ),
    ),
    "health": dict(
        nouns=words(
            "sleep exercise diet stress vitamins water heart body muscles walking habits calories "
            "blood pressure fitness routine weight posture hydration stretching fiber protein "
            "mood energy"
        ),
        adjs=words("healthy daily regular balanced simple better low high active gentle"),
        verbs=words("improved reduced boosted lowered helped increased affected changed"),
        templates=(
            "A {A} walk of {Num} minutes a day can improve your {N}.",
            "Drink plenty of water and get enough sleep.",
            "Experts recommend a {A} diet with fruit and vegetables.",
            "Regular exercise helps reduce stress and improve {N}.",
        ),
    ),
    # Topics whose words biographies share (hospitals, research, courts, therapy): in real text a
    # profession's vocabulary is common far outside biographies, so the LM knows it from there.
    "medicine": dict(
        nouns=words(
            "hospital patients doctor nurse treatment clinic surgery disease medicine symptoms "
            "diagnosis ward emergency vaccine infection care therapy recovery prescription "
            "staff surgeon pharmacy ambulance cancer"
        ),
        adjs=words("medical new rare chronic serious routine urgent mild clinical common"),
        verbs=words("treated diagnosed admitted prescribed tested discharged examined cured"),
        templates=(
            "The hospital hired {Num} new nurses to care for patients in the {N}.",
            "Doctors say the {A} {N} can be treated if it is caught early.",
            "{Name} spent {Num} days in the hospital after the {N}.",
            "The clinic offers free {N} to patients on {Day}.",
        ),
    ),
    "science": dict(
        nouns=words(
            "research study university scientists professor lab data experiment journal theory "
            "results students evidence paper grant team discovery lecture campus conference "
            "model findings sample fellowship"
        ),
        adjs=words("new recent surprising early academic scientific large careful major open"),
        verbs=words("published studied discovered tested measured found reviewed proposed"),
        templates=(
            "Researchers at the university published a {A} study of the {N}.",
            "The professor told {his} students that the {N} was still an open question.",
            "A grant of {Num} million dollars will fund the new {N}.",
            "{Name} presented the {A} {N} at a conference in {City}.",
        ),
    ),
    "law": dict(
        nouns=words(
            "court judge lawyer trial case jury law verdict lawsuit contract evidence appeal "
            "witness attorney client police settlement firm crime sentence ruling"
        ),
        adjs=words("legal federal criminal civil long final fair public key unusual"),
        verbs=words("ruled sued argued appealed settled charged defended filed won"),
        templates=(
            "The judge ruled that the {N} could not be used at trial.",
            "Lawyers for the company filed an appeal on {Day}.",
            "{Name} hired a lawyer after the {A} {N}.",
            "The jury reached a verdict after {Num} hours.",
        ),
    ),
    "mind": dict(
        nouns=words(
            "anxiety stress therapy feelings mind depression sleep habits memory mood therapist "
            "emotions relationships counseling grief confidence trauma behavior support"
        ),
        adjs=words("mental emotional difficult healthy calm hard personal social anxious"),
        verbs=words("coped struggled talked felt helped learned overcame noticed"),
        templates=(
            "Talking to a therapist can help with {N} and {N}.",
            "Many people feel {A} {N} during the holidays.",
            "{Name} said counseling helped {him} deal with {his} {N}.",
            "Simple habits can reduce stress and improve your {N}.",
        ),
    ),
    "cars": dict(
        nouns=words(
            "car engine road driver wheel tires fuel brakes truck speed mileage dealer model "
            "highway garage seat trunk battery gear mechanic transmission sedan bumper hybrid "
            "exhaust"
        ),
        adjs=words("fast electric reliable used new comfortable cheap powerful quiet sporty"),
        verbs=words("drove parked repaired tested bought washed towed replaced tuned crashed"),
        templates=(
            "The new model gets {Num} miles per gallon on the highway.",
            "Check your tires and brakes before a long road trip.",
            "The {A} engine delivers more power with less fuel.",
            "The mechanic replaced the {N} in under an hour.",
        ),
    ),
    "pets": dict(
        nouns=words(
            "dog cat puppy kitten leash vet walk food toy breed owner treats collar bowl fur "
            "shelter parrot hamster fish tank litter kennel grooming whiskers tail"
        ),
        adjs=words("friendly playful small loyal fluffy shy curious lazy happy gentle"),
        verbs=words("adopted walked fed trained groomed rescued chased found named"),
        templates=(
            "Our {A} puppy loves to chase the ball in the park.",
            "Take your dog to the vet at least once a year.",
            "The shelter found homes for {Num} cats this month.",
            "A {A} cat will sleep most of the day.",
        ),
    ),
    "shopping": dict(
        nouns=words(
            "store sale price discount customers mall shoes coupon brand order delivery cart "
            "checkout deal receipt gift bargain shelf aisle refund catalog wallet outlet "
            "boutique"
        ),
        adjs=words("cheap expensive online huge weekly seasonal exclusive limited half-price"),
        verbs=words("bought ordered returned paid saved shipped compared browsed picked"),
        templates=(
            "The store offers {Num} percent off everything this {Day}.",
            "Customers lined up early for the {A} sale.",
            "Free delivery applies to orders over {Num} dollars.",
            "Keep the receipt in case you want a refund.",
        ),
    ),
    "history": dict(
        nouns=words(
            "war empire king century battle army kingdom treaty castle revolution queen ruins "
            "dynasty colony emperor knights siege monument manuscript artifacts chronicle "
            "pharaoh fortress crusade"
        ),
        adjs=words("ancient medieval old great royal famous bloody powerful early forgotten"),
        verbs=words("ruled conquered built defeated founded signed destroyed invaded crowned"),
        templates=(
            "In the {Num}th century the king built a {A} castle on the hill.",
            "The treaty ended a war that had lasted {Num} years.",
            "Historians still debate why the {A} empire collapsed.",
            "The ruins of the old {N} were found near the river.",
        ),
    ),
    "education": dict(
        nouns=words(
            "school students homework class exam lesson grade test classroom library reading "
            "principal semester course tutor diploma curriculum scholarship backpack recess "
            "quiz essay"
        ),
        adjs=words("new hard easy final public private extra summer online weekly"),
        verbs=words("studied passed failed learned graded finished enrolled attended read"),
        templates=(
            "The school will start classes at {Num} o'clock next week.",
            "Parents asked for less homework and more reading time.",
            "The {A} exam covers everything from the first semester.",
            "Students can borrow up to {Num} books from the library.",
        ),
    ),
    "real_estate": dict(
        nouns=words(
            "house home apartment rent buyers mortgage neighborhood property kitchen bedroom "
            "listing agent market yard condo landlord tenants renovation basement lease porch "
            "appraisal"
        ),
        adjs=words("spacious cozy affordable expensive modern quiet renovated small sunny"),
        verbs=words("sold bought rented listed renovated priced painted leased inspected"),
        templates=(
            "The {A} house has {Num} bedrooms and a large yard.",
            "Rent in the neighborhood rose {Num} percent this year.",
            "Buyers are looking for a {A} kitchen and more space.",
            "The apartment was sold a week after it was listed.",
        ),
    ),
    "fashion": dict(
        nouns=words(
            "dress jacket style shoes collection designer color fabric runway jeans coat scarf "
            "boots trend outfit sweater season silk denim accessories hat leather"
        ),
        adjs=words("elegant casual bright classic bold stylish vintage cozy trendy simple"),
        verbs=words("wore designed showed paired styled chose launched tailored"),
        templates=(
            "This season the runway was full of {A} colors.",
            "Pair the {A} jacket with jeans for a casual look.",
            "The designer showed {Num} new looks in the collection.",
            "A {A} scarf keeps you warm and adds some color.",
        ),
    ),
    "games": dict(
        nouns=words(
            "game level player console quest controller boss character map puzzle strategy "
            "multiplayer score sequel graphics story server mission inventory dungeon"
        ),
        adjs=words("new hard fun online addictive classic open epic retro short"),
        verbs=words("played beat finished unlocked released downloaded explored streamed"),
        templates=(
            "The new game lets you explore a {A} world with friends.",
            "It took me {Num} hours to beat the final boss.",
            "The puzzle levels are {A} but very rewarding.",
            "Players can unlock {Num} characters in the story mode.",
        ),
    ),
}

GENERIC_TEMPLATES = (
    "The {A} {N} {V} the {N}.",
    "Yesterday a {A} {N} {V} the {N} near {City}.",
    "Experts say the {N} and the {N} are {A} this year.",
    "Nobody expected the {N} to be so {A}.",
    "{Name} {V} the {A} {N} after the {N}.",
    "According to the latest report, the {N} {V} a {A} {N}.",
    "It was {A} to see how the {N} {V} the {N}.",
    "Many readers asked about the {N}, and the answer was the {N}.",
    "The {N} was {A}, but the {N} was even more {A}.",
    "In the end, {Name} {V} a {N} with a {A} {N}.",
    "On {Day}, the {N} in {City} {V} the {A} {N}.",
    "Some people think the {N} matters more than the {N}.",
    "{Name} said {he} {V} the {N} on {Day}.",
    "{Name} told reporters that {his} {N} was {A}.",
    "When {Name} {V} the {N}, {he} was surprised by the {N}.",
    "{He} says the {A} {N} changed {his} life.",
    "Ask {Name} about the {N} and {he} will tell you it is {A}.",
    "{Name} thanked {his} friends for the {A} {N}.",
    "Nobody told {him} that the {N} would be so {A}.",
    # The document's person again, by pronoun, as running text keeps doing.
    "{He} {V} the {A} {N} on {Day}.",
    "Later, {he} said the {N} was {A}.",
    "{His} {N} was {A}, and {he} knew it.",
    "{He} told {his} family about the {N}.",
    "For {him}, the {N} was the {A} part.",
    "{He} still remembers the {A} {N} in {City}.",
    "Then {he} {V} the {N} with {his} own hands.",
    "{He} hopes the {N} will be {A} next year.",
)

# Physics-like text: a rare subdomain with its own vocabulary and tail concepts.
PHYSICS = dict(
    nouns=words(
        "energy particle field electron mass momentum photon wave charge force velocity spin "
        "frequency temperature entropy potential atom nucleus proton neutron wavelength "
        "acceleration symmetry lattice quantum_state Hamiltonian Lagrangian eigenvalue tensor "
        "operator amplitude"
    ),
    adjs=words(
        "magnetic electric thermal quantum classical relativistic linear constant small "
        "conserved kinetic harmonic"
    ),
    verbs=words(
        "emitted absorbed scattered measured accelerated conserved excited decayed cooled rotated"
    ),
    templates=(
        "The {N} of the system is proportional to the {N}.",
        "We measured the {N} at {Num} kelvin in a {A} field.",
        "In the limit of small {N}, the {A} {N} is conserved.",
        "The electron {V} a photon and the {N} dropped by {Num} electron volts.",
        "Consider a particle of mass m moving in a {A} potential.",
        "The total {N} equals the sum of the kinetic and potential energy.",
        "Applying the {A} operator to the {N} gives the eigenvalue.",
        "The {A} {N} {V} the {N} at the speed of light.",
        "Because of symmetry, the {N} must vanish at the boundary.",
        "The force on a charge q in a field E is q times E.",
    ),
    # The same subject as questions and worked answers (instruction data): the SSAE studies'
    # out-of-distribution test split, as physics instruction data is for arXiv physics. Only
    # words the corpus uses, so the register is new but the vocabulary is not.
    ood_templates=(
        "What is the {N} of a {A} {N}? So the answer is {Num}.",
        "What {V} the {N}? The answer is the {A} {N}.",
        "We {V} the {N} first, then the {N}. What is the answer?",
        "You can see why the {N} is {A}: the {N} equals the {N}.",
        "So how would the {N} change? The answer is that the {A} {N} will be conserved.",
        "The answer is {Num} electron volts, so the {N} is {A}.",
        "First, the {N} is {A}. Next, the {N} {V} the {N}. So what is the {N}?",
        "How can a {A} {N} be {V}? We would say the {N} is conserved.",
    ),
    tail=words(
        "muon gluon positronium tachyon axion magnon polariton skyrmion soliton graviton "
        "Josephson_junction Bose_condensate"
    ),
    tail_templates=(
        "The {T} is rarely observed in ordinary experiments.",
        "Our model predicts that the {T} {V} the {N}.",
        "The {T} carries {A} {N} and interacts weakly.",
        "Evidence for the {T} would change how we understand the {N}.",
    ),
)

# Toxic-like text: hostile comments and mild insults (no slurs). {N} is what is insulted (a post,
# an opinion), {I} the insult for the person.
TOXIC = dict(
    nouns=words(
        "comment opinion post argument nonsense excuse rant take idea point answer thread joke "
        "review story attitude logic"
    ),
    insults=words("idiot moron clown loser fool jerk dummy creep troll dork bozo clod"),
    adjs=words(
        "stupid pathetic dumb worthless useless clueless ridiculous lazy ignorant brainless "
        "annoying disgusting"
    ),
    verbs=words("wrote posted ruined wasted typed spewed repeated copied"),
    templates=(
        "You are such a {A} {I}.",
        "Nobody cares about your {A} {N}, you {I}.",
        "Shut up and go away, you {A} {I}.",
        "Only a {A} {I} would post this {N}.",
        "What a {A} {N}, are you even trying?",
        "Stop talking, you are embarrassing yourself, {I}.",
        "Get lost, nobody asked for your {A} {N}.",
        "This is the most {A} {N} I have ever read.",
        "You clearly have no idea what you are talking about, {I}.",
        "Every time you open your mouth a {A} {N} comes out.",
        "You {V} the same {A} {N} again, you {I}.",
        "Seriously, who lets a {I} like you post here?",
    ),
    # The same hostility as chat messages: the out-of-distribution test split of the studies.
    ood_templates=(
        "@{Name} your {N} is so {A}",
        "{Name} said this {A} {N} again, what a {I}",
        "how are you even this {A}, {I}",
        "people here are tired of your {A} {N}",
        "so {A}. nobody asked, {I}",
        "what is this {A} {N}? {I}s all over this thread",
        "Seriously {Name}, you {V} this {A} {N} again",
        "your comment is {A} and so are you",
    ),
    tail=words(
        "nincompoop numbskull dunderhead blockhead ignoramus troglodyte scoundrel charlatan "
        "windbag imbecile buffoon nitwit"
    ),
    tail_templates=(
        "You absolute {T}, read before you post.",
        "Only a {T} would believe this {A} {N}.",
        "Listen, {T}, nobody wants your {N}.",
        "Go back under your bridge, {T}.",
    ),
)

MALE_NAMES = words(
    "James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew "
    "Anthony Mark Steven Paul Andrew Joshua Kevin Brian George Edward Ronald Timothy Jason "
    "Jeffrey Ryan Jacob Gary Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel "
    "Gregory Frank Raymond Patrick Alexander Jack Dennis Peter Henry Adam Nathan Kyle Carlos "
    "Rahul Ahmed Wei Luis Omar Hiroshi Ivan Marco"
)
FEMALE_NAMES = words(
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa "
    "Betty Margaret Sandra Ashley Emily Donna Michelle Carol Amanda Melissa Deborah "
    "Stephanie Rebecca Laura Sharon Cynthia Kathleen Amy Angela Anna Ruth Brenda Emma Nicole "
    "Helen Samantha Katherine Christine Rachel Julie Olivia Victoria Megan Hannah Grace "
    "Sophia Maria Priya Fatima Mei Lucia Aisha Yuki Elena Chiara"
)
SURNAMES = words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Patel Kim Chen Singh Cohen Murphy Kelly Rossi Novak Schmidt"
)
CITIES = words(
    "Boston Chicago Denver Seattle Austin Portland Atlanta Phoenix Dallas Miami Houston "
    "Toronto London Dublin Sydney Melbourne Vancouver Manchester Minneapolis Nashville "
    "Pittsburgh Baltimore Cleveland San_Diego New_York Philadelphia Detroit Edinburgh "
    "Auckland Oakland"
)
DAYS = words("Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
