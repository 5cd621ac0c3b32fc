// Word lists the synthetic projects draw their names from: one domain per repository, plus invented project words.

export interface Domain {
  /** Short topic, used in descriptions ("a small library for ..."). */
  topic: string;
  nouns: readonly string[];
  verbs: readonly string[];
  adjectives: readonly string[];
}

export const DOMAINS: readonly Domain[] = [
  { topic: 'orchard harvests', nouns: ['apple', 'pear', 'crate', 'orchard', 'branch', 'basket', 'graft'], verbs: ['pick', 'weigh', 'sort', 'pack', 'prune'], adjectives: ['ripe', 'bruised', 'sweet', 'early'] },
  { topic: 'star charts', nouns: ['star', 'orbit', 'comet', 'galaxy', 'nebula', 'eclipse', 'parsec'], verbs: ['observe', 'chart', 'measure', 'align', 'track'], adjectives: ['bright', 'distant', 'binary', 'faint'] },
  { topic: 'bakery batches', nouns: ['loaf', 'dough', 'oven', 'crust', 'batch', 'starter', 'glaze'], verbs: ['knead', 'bake', 'slice', 'proof', 'score'], adjectives: ['golden', 'risen', 'stale', 'crisp'] },
  { topic: 'parcel shipping', nouns: ['parcel', 'route', 'dock', 'cargo', 'manifest', 'pallet', 'courier'], verbs: ['load', 'ship', 'route', 'scan', 'stack'], adjectives: ['fragile', 'urgent', 'bulky', 'insured'] },
  { topic: 'music theory', nouns: ['chord', 'note', 'scale', 'tempo', 'riff', 'octave', 'cadence'], verbs: ['tune', 'transpose', 'voice', 'mix', 'arrange'], adjectives: ['minor', 'sharp', 'muted', 'dotted'] },
  { topic: 'weather stations', nouns: ['storm', 'gust', 'cloud', 'forecast', 'barometer', 'drizzle', 'isobar'], verbs: ['gauge', 'record', 'sample', 'predict', 'smooth'], adjectives: ['humid', 'windy', 'frosty', 'overcast'] },
  { topic: 'library lending', nouns: ['book', 'shelf', 'loan', 'catalog', 'patron', 'volume', 'margin'], verbs: ['lend', 'shelve', 'index', 'renew', 'borrow'], adjectives: ['overdue', 'rare', 'signed', 'reserved'] },
  { topic: 'chess engines', nouns: ['piece', 'board', 'rank', 'gambit', 'castle', 'pawn', 'tempo'], verbs: ['move', 'capture', 'promote', 'evaluate', 'pin'], adjectives: ['passed', 'doubled', 'hanging', 'isolated'] },
  { topic: 'beekeeping', nouns: ['hive', 'comb', 'nectar', 'frame', 'swarm', 'queen', 'pollen'], verbs: ['inspect', 'harvest', 'split', 'feed', 'smoke'], adjectives: ['calm', 'drawn', 'capped', 'brood'] },
  { topic: 'map tiles', nouns: ['tile', 'contour', 'border', 'landmark', 'grid', 'legend', 'meridian'], verbs: ['project', 'trace', 'label', 'clip', 'survey'], adjectives: ['coastal', 'shaded', 'scaled', 'polar'] },
  { topic: 'pottery kilns', nouns: ['kiln', 'glaze', 'clay', 'vessel', 'wheel', 'slip', 'firing'], verbs: ['throw', 'fire', 'trim', 'glaze', 'wedge'], adjectives: ['bisque', 'glossy', 'cracked', 'leather'] },
  { topic: 'fishing fleets', nouns: ['net', 'catch', 'tide', 'bait', 'trawler', 'reef', 'buoy'], verbs: ['cast', 'haul', 'gut', 'moor', 'reel'], adjectives: ['salty', 'choppy', 'landed', 'coastal'] },
  { topic: 'robot arms', nouns: ['servo', 'joint', 'sensor', 'gripper', 'actuator', 'torque', 'encoder'], verbs: ['calibrate', 'rotate', 'grip', 'home', 'jog'], adjectives: ['stalled', 'homed', 'loose', 'tight'] },
  { topic: 'gene sequencing', nouns: ['gene', 'codon', 'allele', 'strand', 'primer', 'locus', 'exon'], verbs: ['splice', 'align', 'translate', 'mutate', 'amplify'], adjectives: ['dominant', 'recessive', 'coding', 'silent'] },
  { topic: 'election tallies', nouns: ['ballot', 'precinct', 'tally', 'candidate', 'district', 'quorum', 'recount'], verbs: ['count', 'certify', 'audit', 'cast', 'rank'], adjectives: ['spoiled', 'absentee', 'valid', 'provisional'] },
  { topic: 'theatre cues', nouns: ['scene', 'cue', 'prop', 'curtain', 'rehearsal', 'understudy', 'spotlight'], verbs: ['stage', 'block', 'rehearse', 'cue', 'dim'], adjectives: ['cued', 'dark', 'offstage', 'dress'] },
  { topic: 'brewery cellars', nouns: ['barrel', 'hop', 'mash', 'wort', 'cask', 'yeast', 'malt'], verbs: ['brew', 'ferment', 'rack', 'pitch', 'tap'], adjectives: ['hoppy', 'cloudy', 'aged', 'bitter'] },
  { topic: 'railway timetables', nouns: ['train', 'platform', 'signal', 'carriage', 'junction', 'timetable', 'siding'], verbs: ['dispatch', 'couple', 'switch', 'delay', 'board'], adjectives: ['express', 'late', 'coupled', 'idle'] },
  { topic: 'textile looms', nouns: ['loom', 'thread', 'weft', 'warp', 'bobbin', 'spindle', 'swatch'], verbs: ['weave', 'spin', 'dye', 'knot', 'card'], adjectives: ['woven', 'dyed', 'coarse', 'twilled'] },
  { topic: 'mountain huts', nouns: ['summit', 'ridge', 'hut', 'trail', 'cairn', 'glacier', 'rope'], verbs: ['climb', 'belay', 'descend', 'rope', 'bivouac'], adjectives: ['steep', 'icy', 'exposed', 'marked'] },
];

/** Syllables for invented project words ("velkor", "brindu"): they make each repository's vocabulary its own. */
export const SYLLABLES: readonly string[] = [
  'vel', 'kor', 'brin', 'du', 'zan', 'tho', 'mir', 'qua', 'lox', 'fen', 'dra', 'pim', 'sorv', 'nel', 'gath', 'ru',
  'xo', 'bel', 'trak', 'oon', 'kes', 'wyn', 'jal', 'mo', 'tev', 'ish', 'plo', 'gri', 'dax', 'umb', 'sil', 'rho',
];

export const FIRST_NAMES: readonly string[] = [
  'Ada', 'Bruno', 'Chiara', 'Dmitri', 'Elif', 'Farah', 'Goran', 'Hana', 'Ivo', 'Jun', 'Kemal', 'Lena', 'Mateo', 'Noor',
  'Oskar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tomoko', 'Uma', 'Viktor', 'Wen', 'Yara', 'Zoltan',
];

export const LAST_NAMES: readonly string[] = [
  'Abara', 'Berg', 'Castell', 'Dahl', 'Eze', 'Fischer', 'Gupta', 'Horvat', 'Ito', 'Jansen', 'Kowal', 'Lindqvist',
  'Moreau', 'Novak', 'Okafor', 'Petrov', 'Quispe', 'Rossi', 'Sato', 'Tanaka', 'Ueda', 'Varga', 'Weber', 'Young',
];

/** Non-ASCII greetings (all in the Basic Multilingual Plane, so string lengths agree between Python and JavaScript). */
export const GREETINGS: readonly string[] = [
  'Grüße', '¡Hola', 'Привет', 'こんにちは', 'Γειά σου', 'Olá', 'Hej då ☃', 'Ciao ☀', 'Bonjour — salut', 'Merhaba ★',
];

/** Separators used when a project joins strings: each repository keeps one convention. */
export const SEPARATORS: readonly string[] = [' | ', ' :: ', ' -> ', ', ', ' / ', '; ', ' ~ '];

/** Separators for "head<sep>tail" records (the records themselves carry brackets and commas). */
export const PAIR_SEPARATORS: readonly string[] = ['=>', '::', '|', '->', '@', '~>'];
