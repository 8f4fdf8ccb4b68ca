"""Professions of the tiny world's biographies, with the real Bias-in-Bios (LabHC) label ids.

Each profession carries the vocabulary that makes it learnable from a biography whose first
sentence (the one naming the profession) has been removed, as in BiB's `hard_text`: employers,
degree fields, duties written as sentence templates, specialties and associations. `p_female` is
roughly the share of women among that profession's biographies in the real dataset, and `weight`
roughly its share of all biographies (how often it appears among the corpus's biographies).

Template slots are filled per biography by `shift.world.bios`: {S} subject (pronoun or name),
{sp} subject pronoun mid-sentence, {Pos}/{pos} possessive, {obj} object pronoun, {has} {is} {was}
and the verb suffixes {s} {es} (agreement with he/she vs I), {City} {Num} {Year} {Univ}, {E}
employer, {F} degree field, {X} specialty.
"""

from __future__ import annotations

from dataclasses import dataclass

# The 28 LabHC/bias_in_bios professions in label order.
BIB_PROFESSIONS = (
    "accountant architect attorney chiropractor comedian composer dentist dietitian dj filmmaker "
    "interior_designer journalist model nurse painter paralegal pastor personal_trainer "
    "photographer physician poet professor psychologist rapper software_engineer surgeon teacher "
    "yoga_teacher"
).split()
PROFESSION_ID = {name: i for i, name in enumerate(BIB_PROFESSIONS)}

# The profession pairs SHIFT experiments use (label 0 profession, label 1 profession).
PAIRS = (("professor", "nurse"), ("surgeon", "psychologist"), ("attorney", "teacher"),
         ("architect", "journalist"))  # fmt: skip


@dataclass(frozen=True)
class Profession:
    name: str
    """LabHC profession name (key of PROFESSION_ID)."""
    titles: tuple[str, ...]
    """How the first sentence names the profession (also reused, rarely, later in a bio)."""
    p_female: float
    """Share of women among this profession's biographies."""
    weight: float
    """Relative frequency among all biographies (BiB-like)."""
    employers: tuple[str, ...]
    """Workplaces (templates; one is chosen per biography)."""
    degrees: tuple[str, ...]
    """Degrees held (one per biography)."""
    fields: tuple[str, ...]
    """Fields of study (one per biography)."""
    duties: tuple[str, ...]
    """Sentence templates about the work; 2-4 distinct ones per biography."""
    specialties: tuple[str, ...]
    """Fillers of {X}: areas, units, clients, subjects."""
    associations: tuple[str, ...]
    """Professional bodies a person may belong to."""
    doctor: bool = False
    """Whether "Dr." is a usual title (it carries no gender)."""

    @property
    def pid(self) -> int:
        return PROFESSION_ID[self.name]


def _t(*items: str) -> tuple[str, ...]:
    return tuple(items)


PROFESSIONS: tuple[Profession, ...] = (
    Profession(
        name="professor",
        titles=_t("professor", "associate professor", "assistant professor", "professor emeritus"),
        p_female=0.35,
        weight=0.30,
        employers=_t(
            "the University of {City}",
            "{City} State University",
            "a research university",
            "the department of {F} at {Univ}",
            "{City} Institute of Technology",
        ),
        degrees=_t("PhD", "doctorate", "Ph.D."),
        fields=_t(
            "economics",
            "sociology",
            "chemistry",
            "history",
            "linguistics",
            "computer science",
            "biology",
            "philosophy",
            "mathematics",
            "political science",
            "anthropology",
        ),
        duties=_t(
            "{S} teach{es} undergraduate and graduate courses in {F}.",
            "{Pos} research focuses on {X} and {X}.",
            "{S} {has} published more than {Num} articles in leading journals.",
            "{S} {is} the author of {Num} books, including a study of {X}.",
            "{S} supervise{s} doctoral students and serve{s} on the editorial board of a journal.",
            "{Pos} work has been funded by the National Science Foundation.",
            "{S} {was} a postdoctoral fellow at {Univ} before joining the faculty.",
            "{S} {has} held visiting positions at {Univ} and {Univ}.",
            "{S} regularly give{s} lectures at international conferences on {X}.",
            "{Pos} recent paper on {X} won a best paper award.",
            "{S} chair{s} the graduate admissions committee of the department.",
        ),
        specialties=_t(
            "labor markets",
            "climate policy",
            "protein folding",
            "medieval literature",
            "urban inequality",
            "machine learning",
            "cognitive development",
            "social networks",
            "number theory",
            "migration",
            "game theory",
            "language acquisition",
            "public health policy",
        ),
        associations=_t(
            "American Academy of Arts and Sciences",
            "Royal Society",
            "American Economic Association",
        ),
        doctor=True,
    ),
    Profession(
        name="nurse",
        titles=_t("nurse", "registered nurse", "nurse practitioner", "licensed practical nurse"),
        p_female=0.90,
        weight=0.05,
        employers=_t(
            "{City} General Hospital",
            "a community clinic",
            "a children's hospital",
            "a home health agency",
            "the intensive care unit at {City} Medical Center",
            "a rehabilitation center",
        ),
        degrees=_t(
            "Bachelor of Science in Nursing",
            "associate degree in nursing",
            "Master of Science in Nursing",
        ),
        fields=_t("nursing", "health sciences", "community health"),
        duties=_t(
            "{S} care{s} for patients on the {X} unit.",
            "{S} {has} worked night shifts on the {X} ward for {Num} years.",
            "{S} administer{s} medication, monitor{s} vital signs and educate{s} families.",
            "{Pos} patients describe {obj} as calm, patient and caring.",
            "{S} {is} certified in pediatric advanced life support.",
            "{S} coordinate{s} discharge plans with doctors and social workers.",
            "{S} also mentor{s} new graduates and nursing students.",
            "{S} {has} cared for patients recovering from surgery and serious illness.",
            "{S} work{s} twelve hour shifts at the bedside.",
            "{S} help{s} families understand treatment plans and medications.",
            "During the pandemic {sp} volunteered on a busy {X} ward.",
        ),
        specialties=_t(
            "cardiac",
            "oncology",
            "pediatric",
            "maternity",
            "emergency",
            "surgical",
            "geriatric",
            "intensive care",
            "neonatal",
            "wound care",
            "palliative care",
        ),
        associations=_t(
            "American Nurses Association",
            "Emergency Nurses Association",
            "National League for Nursing",
        ),
    ),
    Profession(
        name="surgeon",
        titles=_t("surgeon", "orthopedic surgeon", "cardiac surgeon", "plastic surgeon"),
        p_female=0.15,
        weight=0.034,
        employers=_t(
            "{City} Medical Center",
            "a university hospital",
            "{City} Surgical Associates",
            "a trauma center",
            "a private surgical practice",
        ),
        degrees=_t("MD", "medical degree", "Doctor of Medicine"),
        fields=_t("medicine", "surgery"),
        duties=_t(
            "{S} perform{s} more than {Num} operations a year.",
            "{S} completed {pos} residency in general surgery at {Univ}.",
            "{S} specialize{s} in {X} and minimally invasive procedures.",
            "{S} {is} board certified by the American Board of Surgery.",
            "{S} completed a fellowship in {X} at {City} Medical Center.",
            "{S} spend{s} most days in the operating room.",
            "{Pos} clinical interests include {X} and {X}.",
            "{S} {has} trained dozens of surgical residents.",
            "{S} {has} published research on outcomes after {X}.",
        ),
        specialties=_t(
            "joint replacement",
            "spine surgery",
            "sports injuries",
            "heart valve repair",
            "trauma surgery",
            "breast reconstruction",
            "hand surgery",
            "laparoscopic surgery",
            "cosmetic procedures",
        ),
        associations=_t("American College of Surgeons", "American Academy of Orthopaedic Surgeons"),
        doctor=True,
    ),
    Profession(
        name="psychologist",
        titles=_t(
            "psychologist",
            "clinical psychologist",
            "licensed psychologist",
            "counseling psychologist",
        ),
        p_female=0.65,
        weight=0.046,
        employers=_t(
            "a private practice in {City}",
            "a community mental health center",
            "the counseling center at {Univ}",
            "{City} Behavioral Health",
            "a veterans hospital",
        ),
        degrees=_t("PhD", "PsyD", "doctorate"),
        fields=_t("clinical psychology", "counseling psychology", "psychology"),
        duties=_t(
            "{S} work{s} with adults and adolescents struggling with {X} and {X}.",
            "{S} use{s} cognitive behavioral therapy and mindfulness in {pos} sessions.",
            "{S} provide{s} individual, couples and family therapy.",
            "{S} {has} a special interest in {X}.",
            "{S} conduct{s} psychological assessments for children and adults.",
            "{Pos} approach is warm, collaborative and grounded in research.",
            "{S} help{s} clients build coping skills and improve their relationships.",
            "{S} supervise{s} therapists in training and lead{s} support groups.",
            "{S} believe{s} therapy should be a safe place to explore difficult feelings.",
        ),
        specialties=_t(
            "anxiety",
            "depression",
            "trauma",
            "grief",
            "eating disorders",
            "relationship issues",
            "ADHD",
            "chronic pain",
            "addiction",
            "stress",
        ),
        associations=_t(
            "American Psychological Association",
            "Association for Behavioral and Cognitive Therapies",
        ),
        doctor=True,
    ),
    Profession(
        name="attorney",
        titles=_t("attorney", "lawyer", "partner at a law firm", "trial attorney"),
        p_female=0.40,
        weight=0.083,
        employers=_t(
            "a law firm in {City}",
            "{City} Legal Group",
            "the district attorney's office",
            "a boutique litigation firm",
            "the public defender's office",
        ),
        degrees=_t("JD", "law degree", "Juris Doctor"),
        fields=_t("law", "political science", "economics"),
        duties=_t(
            "{S} represent{s} clients in {X} and {X} matters.",
            "{S} {is} admitted to the bar in {City} and before the federal courts.",
            "{S} {has} tried more than {Num} cases to verdict.",
            "{Pos} practice focuses on {X}.",
            "{S} advise{s} businesses on contracts, disputes and compliance.",
            "{S} received {pos} law degree from {Univ} School of Law.",
            "{S} {has} argued appeals before the state supreme court.",
            "{S} negotiate{s} settlements and draft{s} agreements for {pos} clients.",
            "Before going into private practice {sp} clerked for a federal judge.",
        ),
        specialties=_t(
            "estate planning",
            "family law",
            "criminal defense",
            "personal injury",
            "real estate law",
            "employment law",
            "intellectual property",
            "immigration law",
            "commercial litigation",
            "bankruptcy",
        ),
        associations=_t("American Bar Association", "State Bar", "Trial Lawyers Association"),
    ),
    Profession(
        name="teacher",
        titles=_t(
            "teacher", "high school teacher", "elementary school teacher", "middle school teacher"
        ),
        p_female=0.60,
        weight=0.041,
        employers=_t(
            "{City} Elementary School",
            "{City} High School",
            "a public middle school",
            "a charter school in {City}",
            "a primary school",
        ),
        degrees=_t("Bachelor of Education", "Master of Education", "teaching credential"),
        fields=_t("education", "English", "mathematics", "history", "special education"),
        duties=_t(
            "{S} teach{es} {X} to {Num}th grade students.",
            "{S} {has} been in the classroom for {Num} years.",
            "{S} design{s} lesson plans that make {X} fun and hands-on.",
            "{S} believe{s} every student can learn when given the right support.",
            "{S} coach{es} the school debate team and run{s} the reading club.",
            "{S} work{s} closely with parents to support each child.",
            "{Pos} students say {pos} class is the highlight of their day.",
            "{S} {has} developed a new curriculum for {X}.",
            "{S} {was} named teacher of the year by {pos} district.",
        ),
        specialties=_t(
            "reading",
            "math",
            "science",
            "writing",
            "art",
            "history",
            "music",
            "social studies",
            "algebra",
            "spelling",
        ),
        associations=_t(
            "National Education Association", "National Council of Teachers of English"
        ),
    ),
    Profession(
        name="architect",
        titles=_t("architect", "licensed architect", "principal architect", "project architect"),
        p_female=0.25,
        weight=0.026,
        employers=_t(
            "an architecture firm in {City}",
            "{City} Design Studio",
            "a design and build firm",
            "{pos} own studio",
        ),
        degrees=_t("Master of Architecture", "Bachelor of Architecture"),
        fields=_t("architecture", "urban design", "environmental design"),
        duties=_t(
            "{S} design{s} {X} with a focus on natural light and simple materials.",
            "{S} {has} led projects ranging from private homes to {X}.",
            "{S} {is} LEED accredited and passionate about sustainable design.",
            "{Pos} buildings have won several design awards.",
            "{S} work{s} with clients from early sketches to construction drawings.",
            "{S} {has} worked on the renovation of historic buildings in {City}.",
            "{Pos} firm specializes in {X}.",
            "{S} teach{es} a design studio and review{s} student projects.",
        ),
        specialties=_t(
            "residential buildings",
            "schools",
            "museums",
            "office towers",
            "affordable housing",
            "libraries",
            "urban housing",
            "public spaces",
            "hospitals",
        ),
        associations=_t(
            "American Institute of Architects", "Royal Institute of British Architects"
        ),
    ),
    Profession(
        name="journalist",
        titles=_t("journalist", "reporter", "staff writer", "correspondent"),
        p_female=0.50,
        weight=0.051,
        employers=_t(
            "the {City} Times",
            "a national newspaper",
            "a public radio station",
            "a news magazine",
            "the {City} Herald",
        ),
        degrees=_t("bachelor's degree", "master's degree"),
        fields=_t("journalism", "English", "political science", "communications"),
        duties=_t(
            "{S} cover{s} {X} and {X} for the newsroom.",
            "{Pos} reporting has appeared in national newspapers and magazines.",
            "{S} {has} written about {X} for more than {Num} years.",
            "{S} won an award for investigative reporting on {X}.",
            "{S} {was} previously a correspondent in {City}.",
            "{S} write{s} a weekly column and host{s} a podcast about {X}.",
            "{S} {has} interviewed politicians, artists and ordinary people.",
            "{Pos} stories focus on the people behind the headlines.",
        ),
        specialties=_t(
            "politics",
            "crime",
            "the environment",
            "education",
            "business",
            "immigration",
            "technology",
            "health care",
            "culture",
            "sports",
        ),
        associations=_t(
            "Society of Professional Journalists", "Investigative Reporters and Editors"
        ),
    ),
    Profession(
        name="physician",
        titles=_t("physician", "family physician", "internist", "doctor"),
        p_female=0.50,
        weight=0.098,
        employers=_t(
            "a family practice in {City}",
            "{City} Medical Group",
            "a community health center",
            "the department of medicine at {Univ}",
        ),
        degrees=_t("MD", "medical degree", "Doctor of Medicine"),
        fields=_t("medicine", "internal medicine", "family medicine"),
        duties=_t(
            "{S} provide{s} primary care to adults and families.",
            "{S} completed {pos} residency in internal medicine at {Univ}.",
            "{S} {is} board certified in {X}.",
            "{S} see{s} patients with diabetes, heart disease and {X}.",
            "{S} emphasize{s} preventive care and healthy lifestyles.",
            "{Pos} clinical interests include {X} and {X}.",
            "{S} {has} practiced medicine in {City} for {Num} years.",
        ),
        specialties=_t(
            "internal medicine",
            "family medicine",
            "geriatrics",
            "women's health",
            "sports medicine",
            "chronic disease",
            "preventive medicine",
        ),
        associations=_t("American Medical Association", "American College of Physicians"),
        doctor=True,
    ),
    Profession(
        name="dentist",
        titles=_t("dentist", "family dentist", "cosmetic dentist"),
        p_female=0.35,
        weight=0.037,
        employers=_t(
            "a dental practice in {City}", "{City} Family Dentistry", "{City} Dental Care"
        ),
        degrees=_t("DDS", "DMD", "dental degree"),
        fields=_t("dentistry", "biology"),
        duties=_t(
            "{S} offer{s} {X} and {X} for the whole family.",
            "{S} help{s} patients feel relaxed in the dental chair.",
            "{S} {has} placed hundreds of implants and crowns.",
            "{S} believe{s} a healthy smile starts with prevention.",
            "{S} stay{s} current with the latest techniques in {X}.",
            "{S} {has} been caring for teeth in {City} for {Num} years.",
        ),
        specialties=_t(
            "cosmetic dentistry",
            "implants",
            "teeth whitening",
            "crowns",
            "root canals",
            "orthodontics",
            "pediatric dentistry",
            "veneers",
        ),
        associations=_t("American Dental Association", "Academy of General Dentistry"),
        doctor=True,
    ),
    Profession(
        name="accountant",
        titles=_t("accountant", "certified public accountant", "CPA", "tax accountant"),
        p_female=0.37,
        weight=0.014,
        employers=_t(
            "an accounting firm in {City}",
            "{City} Tax Services",
            "a regional bank",
            "a small business consultancy",
        ),
        degrees=_t("bachelor's degree", "master's degree"),
        fields=_t("accounting", "finance", "business administration"),
        duties=_t(
            "{S} prepare{s} tax returns for individuals and small businesses.",
            "{S} {has} {Num} years of experience in {X} and {X}.",
            "{S} help{s} clients with bookkeeping, payroll and financial statements.",
            "{S} {is} a licensed CPA in the state.",
            "{S} audit{s} nonprofit organizations and family businesses.",
            "{S} enjoy{s} helping owners understand their numbers.",
        ),
        specialties=_t(
            "tax planning",
            "auditing",
            "bookkeeping",
            "payroll",
            "forensic accounting",
            "financial reporting",
            "budgeting",
        ),
        associations=_t("American Institute of CPAs", "Institute of Management Accountants"),
    ),
    Profession(
        name="photographer",
        titles=_t(
            "photographer",
            "wedding photographer",
            "portrait photographer",
            "freelance photographer",
        ),
        p_female=0.36,
        weight=0.062,
        employers=_t("{pos} studio in {City}", "a photography studio", "a magazine"),
        degrees=_t("bachelor's degree", "Bachelor of Fine Arts"),
        fields=_t("photography", "fine arts", "visual arts"),
        duties=_t(
            "{S} shoot{s} {X} and {X} around {City}.",
            "{Pos} images have appeared in magazines and exhibitions.",
            "{S} love{s} natural light and honest moments.",
            "{S} {has} photographed more than {Num} weddings.",
            "{Pos} work has been exhibited in galleries in {City}.",
            "{S} always bring{s} a camera, even on vacation.",
        ),
        specialties=_t(
            "weddings",
            "portraits",
            "landscapes",
            "street photography",
            "fashion",
            "food photography",
            "wildlife",
            "architecture photography",
        ),
        associations=_t(
            "Professional Photographers of America", "American Society of Media Photographers"
        ),
    ),
    Profession(
        name="software_engineer",
        titles=_t(
            "software engineer",
            "software developer",
            "senior software engineer",
            "backend engineer",
        ),
        p_female=0.16,
        weight=0.017,
        employers=_t(
            "a startup in {City}",
            "a large technology company",
            "{City} Software",
            "a cloud computing company",
        ),
        degrees=_t("bachelor's degree", "master's degree"),
        fields=_t("computer science", "software engineering", "electrical engineering"),
        duties=_t(
            "{S} build{s} {X} and {X}.",
            "{S} write{s} code in Python, Java and Go.",
            "{S} {has} contributed to several open source projects.",
            "{S} enjoy{s} solving hard problems in {X}.",
            "{S} lead{s} a small team that ships new features every week.",
            "{S} {has} {Num} years of experience building web applications.",
        ),
        specialties=_t(
            "distributed systems",
            "mobile apps",
            "backend services",
            "databases",
            "developer tools",
            "cloud infrastructure",
            "machine learning systems",
            "web applications",
        ),
        associations=_t("Association for Computing Machinery", "IEEE Computer Society"),
    ),
    Profession(
        name="painter",
        titles=_t("painter", "artist", "visual artist", "abstract painter"),
        p_female=0.46,
        weight=0.020,
        employers=_t("{pos} studio in {City}", "an artist residency", "a gallery in {City}"),
        degrees=_t("Bachelor of Fine Arts", "Master of Fine Arts"),
        fields=_t("painting", "fine arts", "art history"),
        duties=_t(
            "{S} work{s} in oil and watercolor on large canvases.",
            "{Pos} paintings explore {X} and {X}.",
            "{Pos} work has been shown in solo exhibitions in {City}.",
            "{S} {is} known for bold color and {X}.",
            "{Pos} paintings are held in private and public collections.",
            "{S} paint{s} every morning in a small studio.",
        ),
        specialties=_t(
            "landscapes",
            "memory",
            "color",
            "abstraction",
            "the human figure",
            "urban life",
            "light",
            "nature",
        ),
        associations=_t("National Academy of Design", "Royal Watercolour Society"),
    ),
)

PROFESSION_BY_NAME = {p.name: p for p in PROFESSIONS}

# Tail concepts of the biography subdomain: rare honours and experiences, each in few biographies.
BIO_TAIL = (
    "Fulbright scholarship", "Rhodes scholarship", "MacArthur fellowship", "Guggenheim fellowship",
    "Peace Corps assignment", "Pulitzer nomination", "Marshall scholarship", "TED fellowship",
    "Nobel symposium invitation", "Antarctic research posting",
)  # fmt: skip
BIO_TAIL_TEMPLATES = (
    "{S} {was} awarded a {T} in {Year}.",
    "A {T} took {obj} abroad early in {pos} career.",
    "{S} still call{s} {pos} {T} a turning point.",
)
