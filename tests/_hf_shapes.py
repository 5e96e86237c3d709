"""Hugging Face ``tokenizer.json`` pipelines in the shapes of real checkpoints, built at run time.

Used by ``tests/tokenize/test_tokenize_parity_hf_pipelines.py`` (small vocabularies, a second or less each) and by
``benches/bench_hf.py`` (larger vocabularies, trained on the benchmark corpus). Nothing here
imports seqfast: every builder makes a ``tokenizers.Tokenizer`` the way the real checkpoint's
file was made (trained by ``tokenizers`` trainers, or a sentencepiece model trained with
``SentencePieceTrainer`` and converted with ``transformers``' slow->fast converters, which is
how Llama 2, T5, XLM-R, ALBERT and Gemma got their tokenizer.json), saves it, and returns a
:class:`Built` (name, path, the HF tokenizer loaded back from that file, the added-token strings
to sprinkle into test text).

Shapes (``SHAPES``; ``build(name, workdir)``):

=====================  ==================================================================================
gpt2                   BPE; ByteLevel pre-tok; ByteLevel post-proc (trim_offsets=False); ByteLevel decoder
roberta                ByteLevel(add_prefix_space=False); RobertaProcessing; ``<mask>`` lstrip=True
roberta_prefix         ByteLevel(add_prefix_space=True); RobertaProcessing(add_prefix_space, trim_offsets)
bert_uncased           BertNormalizer(lowercase); BertPreTokenizer; WordPiece; Template [CLS] $A [SEP]
bert_cased             the same, cased, accents kept
wordpiece_bertproc     BertNormalizer(strip_accents=True, no CJK split); BertProcessing; max_input_chars 8
llama2                 sentencepiece BPE byte_fallback+fuse_unk; Prepend+Replace; Template <s>
mistral                the same BPE, non-legacy: Metaspace(first, split=False); [INST] added tokens
metaspace_first        HF BPE; Metaspace(prepend_scheme=first, split=True) pre-tok and decoder
metaspace_always       HF Unigram with unk; Metaspace(always) pre-tok and decoder
metaspace_never        HF BPE; Metaspace(never, split=False)
llama3                 Split(Llama-3 regex)+ByteLevel(use_regex=False); BPE ignore_merges; Sequence post-proc
                       [ByteLevel, Template <|begin_of_text|>]
qwen2                  NFC; Split(Qwen2 regex)+ByteLevel; ByteLevel post-proc; special and non-special added
gemma                  sentencepiece BPE byte_fallback (pad/eos/bos/unk = 0..3); Replace(" ", "▁"); no pre-tok
t5                     sentencepiece Unigram via T5Converter: Precompiled+Strip+Replace; Metaspace; $A </s>
mt5_legacy             same model, older file shape: Precompiled; WhitespaceSplit+Metaspace
xlmr                   Unigram via XLMRobertaConverter (fairseq id shift); <s> $A </s></s> $B </s>; <mask>
albert                 Unigram via AlbertConverter: Replace``, NFKD, StripAccents, Lowercase, Precompiled
whisper                GPT-2 byte-level BPE + 200 added tokens (special and not); Template prefix tokens
wordlevel              WordLevel with unk; Whitespace pre-tok; no decoder (HF joins with spaces)
openai_gpt             NFD+Lowercase+StripAccents+Strip; BertPreTokenizer; BPE end_of_word_suffix </w>;
                       BPEDecoder
clip                   NFC+Replace(\\s+)+Lowercase; Split(invert=True, removed)+ByteLevel; BPE </w>; Roberta
extras_added           NFKC+Lowercase+NFKD+StripAccents+Strip; WhitespaceSplit+Punctuation+Digits(indiv.);
                       WordPiece; added tokens single_word / rstrip / lstrip / normalized=True
split_<behavior>       one Split each: removed, isolated, merged_with_previous, merged_with_next,
                       contiguous, and isolated with invert=True; decoders Strip / Replace / Fuse
char_delimiter         CharDelimiterSplit("|") + Digits; BPE with unk; Replace+Strip decoder
unicode_scripts        NFD+Prepend; UnicodeScripts+Whitespace; WordPiece
ctc                    character WordLevel (wav2vec2-like); Replace(" ", "|"); CTC decoder
bert_trunc_pad         bert_uncased + truncation (12, stride 3) + padding (batch longest, multiple of 8)
llama3_trunc_pad_left  llama3 + truncation left (10) + padding left to fixed length 16
=====================  ==================================================================================
"""

from __future__ import annotations

import functools
import json
import os
import random
import sysconfig
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

# ---------------------------------------------------------------------------
# Corpus: deterministic multilingual text (pseudo-words in many scripts, Zipf-like
# frequencies), a few real standard-library sources, and the hard strings.
# ---------------------------------------------------------------------------

_LATIN_ON = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "st", "tr",
             "ch", "sch", "br", "gr", "th", "qu"]
_LATIN_NU = ["a", "e", "i", "o", "u", "y", "a", "e", "o", "ä", "ö", "ü", "é", "è", "ê", "à", "ñ", "ø", "å", "ı", "ş", "ő"]
_LATIN_CO = ["", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "ß", "x", "ck"]
_CYR = "абвгдежзийклмнопрстуфхцчшщыэюяё"
_GREEK = "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώ"
_DEVA_C = [chr(c) for c in range(0x0915, 0x0939)]
_DEVA_V = ["", "\u093e", "\u093f", "\u0940", "\u0941", "\u0947", "\u094b", "\u094d", "\u0902"]
_ARABIC = [chr(c) for c in range(0x0627, 0x064A)]
_THAI = [chr(c) for c in range(0x0E01, 0x0E2E)] + ["\u0e31", "\u0e34", "\u0e35", "\u0e48", "\u0e49"]
_HIRA = [chr(c) for c in range(0x3041, 0x3094)]
_KATA = [chr(c) for c in range(0x30A1, 0x30F6)]
_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 200)] + list("日本語中文字符的是不了人我在有他这")
_HANGUL = [chr(0xAC00 + i * 7) for i in range(120)]
_EMOJI = ["😀", "😃", "🎉", "👍", "👍🏽", "❤️", "🇫🇷", "🇯🇵", "👨\u200d👩\u200d👧\u200d👦", "🙂", "🔥", "✔️", "1️⃣"]
_ENGLISH = ("the of and to in is that it was for on are with as his they be at one have this from or had by hot "
            "word but what some we can out other were all there when up use your how said an each she which do their "
            "time if will way about many then them write would like so these her long make thing see him two has "
            "look more day could go come did number sound no most people my over know water than call first who may "
            "down side been now find any new work part take get place made live where after back little only round "
            "man year came show every good me give our under name very through just form sentence great think say "
            "help low line differ turn cause much mean before move right boy old too same tell does set three want "
            "air well also play small end put home read hand port large spell add even land here must big high such "
            "don't I'll we've they're it's HTTPServer getURL iPhone naïve café résumé Zürich São Paulo").split()


def _word(rng: random.Random, script: str) -> str:
    n = rng.choice([1, 1, 2, 2, 3, 4])
    if script == "en":
        return rng.choice(_ENGLISH)
    if script == "latin":
        w = "".join(rng.choice(_LATIN_ON) + rng.choice(_LATIN_NU) + rng.choice(_LATIN_CO) for _ in range(n))
        r = rng.random()
        return w.capitalize() if r < 0.15 else w.upper() if r < 0.18 else w
    if script == "cyr":
        return "".join(rng.choice(_CYR) for _ in range(2 * n + 1))
    if script == "greek":
        return "".join(rng.choice(_GREEK) for _ in range(2 * n + 1))
    if script == "deva":
        return "".join(rng.choice(_DEVA_C) + rng.choice(_DEVA_V) for _ in range(n + 1))
    if script == "arabic":
        return "".join(rng.choice(_ARABIC) for _ in range(2 * n + 1))
    if script == "thai":
        return "".join(rng.choice(_THAI) for _ in range(2 * n + 2))
    if script == "ja":
        kata = "".join(rng.choice(_KATA) for _ in range(3)) if rng.random() < 0.3 else ""
        return "".join(rng.choice(_CJK) for _ in range(n)) + "".join(rng.choice(_HIRA) for _ in range(n)) + kata
    if script == "zh":
        return "".join(rng.choice(_CJK) for _ in range(n + 1))
    if script == "ko":
        return "".join(rng.choice(_HANGUL) for _ in range(n + 1))
    raise ValueError(script)


@functools.lru_cache(maxsize=None)
def generated_corpus(n_lines: int = 3000, seed: int = 1234) -> tuple[str, ...]:
    """``n_lines`` lines of multilingual pseudo-text (deterministic for a seed), each ending in a
    newline variant; about 60 bytes a line."""
    rng = random.Random(seed)
    scripts = ["en"] * 6 + ["latin"] * 4 + ["cyr", "greek", "deva", "arabic", "thai", "ja", "zh", "ko"]
    lexicon = {s: [_word(rng, s) for _ in range(400)] for s in set(scripts)}
    lines = []
    for _ in range(n_lines):
        s = rng.choice(scripts)
        lex = lexicon[s]
        sep = "" if s in ("ja", "zh", "thai") else " "
        line = sep.join(lex[int(len(lex) * rng.random() ** 3)] for _ in range(rng.randint(3, 18)))
        r = rng.random()
        if r < 0.1:
            line += " " + str(rng.randint(0, 10 ** rng.randint(1, 7)))
        elif r < 0.15:
            line += " " + rng.choice(_EMOJI) + rng.choice(["", " ", rng.choice(_EMOJI)])
        elif r < 0.2:
            line = "    " + line + ":"
        elif r < 0.27:
            line += rng.choice([".", "!", "?", "。", "、", "...", ";", ",", " (x)", ' "q"', " 3.14"])
        lines.append(line + rng.choice(["\n", "\n", "\n", "\n\n", "\r\n", "  \n", "\t\n"]))
    return tuple(lines)


@functools.lru_cache(maxsize=None)
def stdlib_corpus(n_files: int = 30, max_chars: int = 8000) -> tuple[str, ...]:
    """An evenly spread, deterministic sample of standard-library sources (English + code)."""
    root = sysconfig.get_paths()["stdlib"]
    paths = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in ("site-packages", "dist-packages", "test", "tests", "__pycache__"))
        paths.extend(os.path.join(d, f) for f in sorted(files) if f.endswith(".py"))
    step = max(1, len(paths) // max(1, n_files))
    out = []
    for p in paths[::step][:n_files]:
        try:
            with open(p, encoding="utf-8") as f:
                out.append(f.read(max_chars))
        except (OSError, UnicodeDecodeError):
            pass
    return tuple(out)


# Hand-picked strings that stress normalizers, pre-tokenizers, added tokens and offsets. The
# added tokens of each shape are glued to these in the tests (``Built.added``).
HARD_STRINGS = [
    "",
    " ",
    "  ",
    "      ",
    "\t",
    "\n",
    "\n\n\n",
    "\r\n",
    " \r\n \n",
    "hello world",
    "Hello  world  ",
    "   leading and trailing   ",
    "tabs\tand\t\tmore\t",
    "line one\nline two\r\nline three\n\n",
    "don't I'LL we've they'RE it's 'S 'x",
    "1234567890 12 123 1234 ١٢٣٤٥ ⅣⅤ ½ ²³",
    "3.14159, 2,718; -42 +7 1e10 0x1F",
    "áé café naïve résumé Zürich Ångström",
    "combining e\u0301 a\u0300\u0301\u0302 \u0301 leading mark",
    "Ǆungla ǅ ǈ ﬁ ﬀ ẞ ß İstanbul ΣΑΣ",
    "日本語のテキスト、中文字符。",
    "한국어 텍스트",
    "हिन्दी पाठ क्षत्रिय",
    "ภาษาไทย",
    "مرحبا بالعالم",
    "Привет, мир! Ёлка",
    "emoji 😀😃 👨\u200d👩\u200d👧\u200d👦 🇫🇷 ✔️ 👍🏽 1️⃣",
    "😀",
    "\u200d\u200d",
    "nbsp\xa0here\u3000ideographic\u2028line\u2029para\x85nel",
    "zero\u200bwidth\ufeffbom\u00adsoft",
    "\x00\x01\x7f control \x1b[31m\x9f",
    "file\x1cgroup\x1drecord\x1eunit\x1f separators",
    "<unk> <s> </s> [CLS] [SEP] <pad> <mask> [MASK]",
    "path/to/file.txt // comment /* x */ a--b a|b a||b",
    "x = [1, 2, 3]\n    return x\n\n",
    "!!!???...,,,;;;",
    "``quoted'' \"double\" 'single' «guillemets»",
    "HTTPServer getURL iPhone CamelCase ALLCAPS",
    "▁already▁has▁meta ▁ ▁▁x",
    "<0x41> <0xFF> ##suffix ##",
    "\U00010348\U0001D11E\U0001F9D1\u200d\U0001F680 \U00020000\U0002A6D6",
    "a" * 300,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    " " * 300 + "a",
    "x" + "\n" * 50 + "y",
    "The quick brown fox jumps over the lazy dog. " * 8,
]


def training_corpus(n_lines: int = 3000, stdlib_files: int = 20) -> list[str]:
    return list(generated_corpus(n_lines)) + list(stdlib_corpus(stdlib_files)) + [s * 3 for s in HARD_STRINGS[9:40]]


# ---------------------------------------------------------------------------
# The shapes
# ---------------------------------------------------------------------------

# Llama 3's pre-tokenizer regex, as in its tokenizer.json.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen2's (single digits).
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# CLIP's (used with invert=True, behavior=removed).
CLIP_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


@dataclass
class Built:
    name: str
    path: str
    hf: object  # tokenizers.Tokenizer, loaded back from `path`
    added: list[str] = field(default_factory=list)  # added-token contents (special or not)
    notes: str = ""

    @property
    def json(self) -> dict:
        with open(self.path, encoding="utf-8") as f:
            return json.load(f)


@dataclass
class _Ctx:
    workdir: Path
    vocab_size: Optional[int]  # None: the shape's small default
    corpus: list[str]

    def vs(self, default: int) -> int:
        return self.vocab_size or default


def _tk():
    import tokenizers

    return tokenizers


def _bpe_trainer(vocab_size: int, special: list[str], *, byte_level: bool = False, **kw):
    from tokenizers import pre_tokenizers, trainers

    if byte_level:
        kw["initial_alphabet"] = pre_tokenizers.ByteLevel.alphabet()
    return trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False, **kw)


def _train(hf, corpus: list[str], trainer) -> None:
    hf.train_from_iterator(corpus, trainer)


def _special(content: str, **kw):
    from tokenizers import AddedToken

    kw.setdefault("normalized", False)
    return AddedToken(content, special=True, **kw)


# --- byte-level families ----------------------------------------------------------------------


def _gpt2(ctx: _Ctx):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    hf.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1200), ["<|endoftext|>"], byte_level=True))
    return hf, ["<|endoftext|>"]


def _roberta(ctx: _Ctx, prefix: bool = False):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix, trim_offsets=True)
    hf.decoder = decoders.ByteLevel()
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1200), ["<s>", "<pad>", "</s>", "<unk>"], byte_level=True))
    hf.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    hf.post_processor = processors.RobertaProcessing(
        ("</s>", hf.token_to_id("</s>")), ("<s>", hf.token_to_id("<s>")), trim_offsets=True, add_prefix_space=prefix
    )
    return hf, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _llama3(ctx: _Ctx, trunc_pad: bool = False):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    hf = Tokenizer(models.BPE(ignore_merges=True))
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    hf.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1500), [], byte_level=True))
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_2|>", "<|eot_id|>"]
    hf.add_special_tokens([_special(s) for s in specials])
    bos = hf.token_to_id("<|begin_of_text|>")
    hf.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
            special_tokens=[("<|begin_of_text|>", bos)],
        ),
    ])
    if trunc_pad:
        hf.enable_truncation(10, stride=2, strategy="longest_first", direction="left")
        eot = hf.token_to_id("<|end_of_text|>")
        hf.enable_padding(direction="left", pad_id=eot, pad_type_id=0, pad_token="<|end_of_text|>", length=16)
    return hf, specials


def _qwen2(ctx: _Ctx):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    hf = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False, ignore_merges=False))
    hf.normalizer = normalizers.NFC()
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    hf.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    hf.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1500), [], byte_level=True))
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    hf.add_special_tokens([_special(s) for s in specials])
    plain = ["<tool_call>", "</tool_call>"]
    hf.add_tokens([AddedToken(s, special=False, normalized=False) for s in plain])
    return hf, specials + plain


_WHISPER_LANGS = ["en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv", "it", "id",
                  "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no", "th", "ur", "hr", "bg",
                  "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr", "az", "sl", "kn", "et", "mk"]


def _whisper(ctx: _Ctx):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True)
    hf.decoder = decoders.ByteLevel()
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1200), ["<|endoftext|>"], byte_level=True))
    specials = (["<|startoftranscript|>"] + [f"<|{lang}|>" for lang in _WHISPER_LANGS]
                + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"])
    hf.add_special_tokens([_special(s) for s in specials])
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(150)]
    hf.add_tokens([AddedToken(s, special=False, normalized=False) for s in stamps])
    ids = {s: hf.token_to_id(s) for s in ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>", "<|endoftext|>"]}
    hf.post_processor = processors.TemplateProcessing(
        single="<|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|> $A:0 <|endoftext|>",
        pair="<|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|> $A:0 $B:1 <|endoftext|>:1",
        special_tokens=list(ids.items()),
    )
    return hf, ["<|endoftext|>"] + specials[:8] + stamps[:4] + ["<|1.00|>", "<|2.98|>"]


def _clip(ctx: _Ctx):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    hf = Tokenizer(models.BPE(unk_token="<|endoftext|>", continuing_subword_prefix="", end_of_word_suffix="</w>"))
    hf.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    hf.decoder = decoders.ByteLevel()
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1200), ["<|startoftext|>", "<|endoftext|>"], byte_level=True,
                                        end_of_word_suffix="</w>"))
    hf.post_processor = processors.RobertaProcessing(
        ("<|endoftext|>", hf.token_to_id("<|endoftext|>")), ("<|startoftext|>", hf.token_to_id("<|startoftext|>")),
        add_prefix_space=False, trim_offsets=False,
    )
    return hf, ["<|startoftext|>", "<|endoftext|>"]


# --- WordPiece families -----------------------------------------------------------------------


def _bert(ctx: _Ctx, lowercase: bool = True, trunc_pad: bool = False):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    hf = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    hf.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    _train(hf, ctx.corpus, trainers.WordPieceTrainer(vocab_size=ctx.vs(1500), special_tokens=specials, show_progress=False))
    cls, sep = hf.token_to_id("[CLS]"), hf.token_to_id("[SEP]")
    hf.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    if trunc_pad:
        hf.enable_truncation(12, stride=3, strategy="longest_first", direction="right")
        hf.enable_padding(direction="right", pad_id=hf.token_to_id("[PAD]"), pad_type_id=0, pad_token="[PAD]",
                          length=None, pad_to_multiple_of=8)
    return hf, specials


def _wordpiece_bertproc(ctx: _Ctx):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    hf = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=8))
    hf.normalizer = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    _train(hf, ctx.corpus, trainers.WordPieceTrainer(vocab_size=ctx.vs(1000), special_tokens=specials, show_progress=False))
    hf.post_processor = processors.BertProcessing(("[SEP]", hf.token_to_id("[SEP]")), ("[CLS]", hf.token_to_id("[CLS]")))
    return hf, specials


def _extras_added(ctx: _Ctx):
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    hf = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    hf.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Lowercase(), normalizers.NFKD(), normalizers.StripAccents(),
        normalizers.Strip(left=True, right=True),
    ])
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    hf.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    _train(hf, ctx.corpus, trainers.WordPieceTrainer(vocab_size=ctx.vs(1000), special_tokens=["[UNK]"], show_progress=False))
    hf.add_tokens([
        AddedToken("<single>", single_word=True, normalized=False),
        AddedToken("hello", single_word=True, normalized=True),  # matched on normalized text: "HELLO" too
        AddedToken("<r>", rstrip=True, normalized=False),
        AddedToken("wörld", normalized=True),  # normalized content differs from the text's
        AddedToken("@@", lstrip=True, rstrip=True, normalized=False),
    ])
    hf.add_special_tokens([AddedToken("[SPECIAL]", lstrip=True, normalized=False, special=True),
                           AddedToken("<sw>", single_word=True, special=True, normalized=False)])
    return hf, ["<single>", "hello", "HELLO", "<r>", "wörld", "WÖRLD", "@@", "[SPECIAL]", "<sw>"]


def _unicode_scripts(ctx: _Ctx):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    hf = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
    hf.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Prepend("_")])
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.UnicodeScripts(), pre_tokenizers.Whitespace()])
    hf.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    _train(hf, ctx.corpus, trainers.WordPieceTrainer(vocab_size=ctx.vs(1000), special_tokens=["[UNK]"], show_progress=False))
    return hf, ["[UNK]"]


# --- Metaspace / sentencepiece-like built by tokenizers -----------------------------------------


def _metaspace(ctx: _Ctx, scheme: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    split = scheme != "never"
    if scheme == "always":
        hf = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=ctx.vs(2000), special_tokens=["<unk>", "<sep>"], unk_token="<unk>",
                                          show_progress=False, max_piece_length=8)
    else:
        hf = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=scheme == "first"))
        trainer = _bpe_trainer(ctx.vs(1000), ["<unk>", "<sep>"], limit_alphabet=300)
    hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme, split=split)
    hf.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=scheme, split=split)
    _train(hf, ctx.corpus, trainer)
    return hf, ["<unk>", "<sep>"]


# --- sentencepiece models converted as transformers does ------------------------------------------


def _spm_train(ctx: _Ctx, name: str, **kw) -> str:
    import sentencepiece as spm

    prefix = str(ctx.workdir / name)
    args = dict(model_type="unigram", vocab_size=ctx.vs(1500), character_coverage=0.995, num_threads=1, minloglevel=2,
                max_sentence_length=1 << 16, hard_vocab_limit=False)
    args.update(kw)
    spm.SentencePieceTrainer.train(sentence_iterator=iter(ctx.corpus), model_prefix=prefix, **args)
    return prefix + ".model"


def _stub(model_file: str, **attrs):
    """Just what transformers' converters read from a slow tokenizer instance."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=model_file)
    d = dict(vocab_file=model_file, legacy=True, add_prefix_space=True, _extra_ids=0, keep_accents=False, do_lower_case=True,
             convert_tokens_to_ids=sp.piece_to_id, convert_ids_to_tokens=sp.id_to_piece)
    d.update(attrs)
    return types.SimpleNamespace(**d)


def _spm_bpe_model(model_file: str, vocab_names: Optional[dict[int, str]] = None, **kw):
    """A tokenizers BPE model from a sentencepiece BPE model, as transformers (v4) LlamaConverter
    made it: vocab = the pieces by id; merges = every split of a normal piece into two pieces,
    ordered by the piece's score (ties: by the ids of the two halves)."""
    import sentencepiece as spm
    from tokenizers import models

    sp = spm.SentencePieceProcessor(model_file=model_file)
    n = sp.get_piece_size()
    pieces = [(vocab_names or {}).get(i, sp.id_to_piece(i)) for i in range(n)]
    vocab = {p: i for i, p in enumerate(pieces)}
    normal = [i for i in range(n) if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i) or sp.is_unused(i))]
    merges = []
    for i in sorted(normal, key=lambda i: -sp.get_score(i)):
        piece = pieces[i]
        local = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        merges.extend(sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]])))
    return models.BPE(vocab, merges, dropout=None, **kw), pieces


def _llama2(ctx: _Ctx, legacy: bool = True):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors

    f = _spm_train(ctx, "llama", model_type="bpe", byte_fallback=True, vocab_size=ctx.vs(1500),
                   split_digits=True, allow_whitespace_only_pieces=True, remove_extra_whitespaces=False,
                   normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    model, _ = _spm_bpe_model(f, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    hf = Tokenizer(model)
    hf.add_special_tokens([_special("<unk>"), _special("<s>"), _special("</s>")])
    if legacy:  # Llama 2, Mistral v0.1 as shipped
        hf.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        added = ["<unk>", "<s>", "</s>"]
    else:  # transformers' non-legacy conversion (newer Llama / Mistral files)
        hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        hf.add_special_tokens([_special("[INST]"), _special("[/INST]")])
        added = ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"]
    hf.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                    decoders.Strip(content=" ", left=1, right=0)])
    hf.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", hf.token_to_id("<s>"))]
    )
    return hf, added


def _gemma(ctx: _Ctx):
    from tokenizers import Tokenizer, decoders, normalizers, processors

    f = _spm_train(ctx, "gemma", model_type="bpe", byte_fallback=True, vocab_size=ctx.vs(1500), split_digits=True,
                   allow_whitespace_only_pieces=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
                   add_dummy_prefix=False,
                   pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
                   unk_piece="<unk>", user_defined_symbols=["<mask>", "<start_of_turn>", "<end_of_turn>"])
    model, _ = _spm_bpe_model(f, unk_token="<unk>", fuse_unk=True, byte_fallback=True)
    hf = Tokenizer(model)
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    hf.add_special_tokens([_special(s) for s in specials])
    hf.normalizer = normalizers.Replace(" ", "▁")
    hf.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    hf.post_processor = processors.TemplateProcessing(
        single="<bos>:0 $A:0", pair="<bos>:0 $A:0 <bos>:1 $B:1", special_tokens=[("<bos>", hf.token_to_id("<bos>"))]
    )
    return hf, specials


def _t5(ctx: _Ctx, legacy_shape: bool = False):
    from tokenizers import Tokenizer, pre_tokenizers
    from transformers.convert_slow_tokenizer import T5Converter

    f = _spm_train(ctx, "t5", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    n_extra = 5
    hf = T5Converter(_stub(f, _extra_ids=n_extra)).converted()
    extras = [f"<extra_id_{i}>" for i in range(n_extra)]
    hf.add_special_tokens([_special("<pad>"), _special("</s>"), _special("<unk>")] + [_special(e) for e in extras])
    if legacy_shape:  # what the T5 / mT5 checkpoints' files (older converters) look like
        charsmap = json.loads(hf.to_str())["normalizer"]["normalizers"][0]
        assert charsmap["type"] == "Precompiled"
        tmp = json.loads(hf.to_str())
        tmp["normalizer"] = charsmap
        hf = Tokenizer.from_str(json.dumps(tmp))
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
        ])
    return hf, ["<pad>", "</s>", "<unk>"] + extras


def _xlmr(ctx: _Ctx):
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import XLMRobertaConverter

    f = _spm_train(ctx, "xlmr")  # sentencepiece defaults: <unk>=0 <s>=1 </s>=2 (fairseq shifts by one)
    fairseq = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    hf = XLMRobertaConverter(_stub(f, convert_tokens_to_ids=fairseq.__getitem__)).converted()
    hf.add_special_tokens([_special("<s>"), _special("<pad>"), _special("</s>"), _special("<unk>"),
                           AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    return hf, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _albert(ctx: _Ctx):
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import AlbertConverter

    f = _spm_train(ctx, "albert", pad_id=0, unk_id=1, bos_id=2, eos_id=3, bos_piece="[CLS]", eos_piece="[SEP]",
                   user_defined_symbols=["[MASK]"])
    hf = AlbertConverter(_stub(f, do_lower_case=True, keep_accents=False)).converted()
    hf.add_special_tokens([_special("<pad>"), _special("<unk>"), _special("[CLS]"), _special("[SEP]"),
                           AddedToken("[MASK]", lstrip=True, rstrip=False, normalized=False, special=True)])
    return hf, ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]


# --- small component exercises ---------------------------------------------------------------


def _wordlevel(ctx: _Ctx):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    hf = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    _train(hf, ctx.corpus, trainers.WordLevelTrainer(vocab_size=ctx.vs(2000), special_tokens=["[UNK]", "[PAD]"],
                                                     show_progress=False))
    return hf, ["[UNK]", "[PAD]"]


def _openai_gpt(ctx: _Ctx):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    hf = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
    hf.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents(),
                                          normalizers.Strip(left=True, right=True)])
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.decoder = decoders.BPEDecoder(suffix="</w>")
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(1200), ["<unk>"], end_of_word_suffix="</w>", limit_alphabet=200))
    return hf, ["<unk>"]


_SPLITS = {
    # behavior, pattern (regex unless str), invert, decoder
    "split_removed": ("removed", r"\s+", False),
    "split_isolated": ("isolated", r"\p{P}|\p{S}", False),
    "split_merged_with_previous": ("merged_with_previous", " ", False),
    "split_merged_with_next": ("merged_with_next", r"[\s,.]", False),
    "split_contiguous": ("contiguous", r"\d|-", False),
    "split_invert": ("isolated", r"\p{L}+|\p{N}+", True),
}


def _split(ctx: _Ctx, name: str):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    behavior, pattern, invert = _SPLITS[name]
    pat = pattern if behavior == "merged_with_previous" else Regex(pattern)
    hf = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=False))
    hf.pre_tokenizer = pre_tokenizers.Split(pat, behavior=behavior, invert=invert)
    if behavior == "removed":
        hf.decoder = decoders.Sequence([decoders.Fuse(), decoders.Strip(content="x", left=1, right=1)])
    elif behavior == "isolated":
        hf.decoder = decoders.Replace(" ", "_")
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(800), ["<unk>", "<sep>"], limit_alphabet=250))
    return hf, ["<sep>"]


def _char_delimiter(ctx: _Ctx):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    hf = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    hf.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.CharDelimiterSplit("|"), pre_tokenizers.Digits(False)])
    hf.decoder = decoders.Sequence([decoders.Replace("|", " | "), decoders.Strip(content=" ", left=2, right=2)])
    _train(hf, ctx.corpus, _bpe_trainer(ctx.vs(800), ["<unk>"], limit_alphabet=250))
    return hf, ["<unk>"]


def _ctc(ctx: _Ctx):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    chars = sorted(set("".join(ctx.corpus[:300])) - {" ", "|"})
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    hf = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    hf.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Replace(" ", "|")])
    hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    hf.decoder = decoders.CTC(pad_token="<pad>", word_delimiter_token="|", cleanup=True)
    hf.add_special_tokens([_special(s) for s in ["<pad>", "<s>", "</s>", "<unk>"]])
    return hf, ["<pad>", "<s>", "</s>", "<unk>"]


SHAPES: dict[str, Callable[[_Ctx], tuple]] = {
    "gpt2": _gpt2,
    "roberta": _roberta,
    "roberta_prefix": functools.partial(_roberta, prefix=True),
    "bert_uncased": _bert,
    "bert_cased": functools.partial(_bert, lowercase=False),
    "wordpiece_bertproc": _wordpiece_bertproc,
    "llama2": _llama2,
    "mistral": functools.partial(_llama2, legacy=False),
    "metaspace_first": functools.partial(_metaspace, scheme="first"),
    "metaspace_always": functools.partial(_metaspace, scheme="always"),
    "metaspace_never": functools.partial(_metaspace, scheme="never"),
    "llama3": _llama3,
    "qwen2": _qwen2,
    "gemma": _gemma,
    "t5": _t5,
    "mt5_legacy": functools.partial(_t5, legacy_shape=True),
    "xlmr": _xlmr,
    "albert": _albert,
    "whisper": _whisper,
    "wordlevel": _wordlevel,
    "openai_gpt": _openai_gpt,
    "clip": _clip,
    "extras_added": _extras_added,
    **{name: functools.partial(_split, name=name) for name in _SPLITS},
    "char_delimiter": _char_delimiter,
    "unicode_scripts": _unicode_scripts,
    "ctc": _ctc,
    "bert_trunc_pad": functools.partial(_bert, trunc_pad=True),
    "llama3_trunc_pad_left": functools.partial(_llama3, trunc_pad=True),
}

# Shapes whose file sets truncation and/or padding (encode_batch pads across the batch there).
TRUNC_PAD_SHAPES = ("bert_trunc_pad", "llama3_trunc_pad_left")
# Shapes that need transformers' converters / sentencepiece.
SPM_SHAPES = ("llama2", "mistral", "gemma", "t5", "mt5_legacy", "xlmr", "albert")
# The families of real checkpoints (the benchmark's rows).
FAMILIES = ("gpt2", "roberta", "bert_uncased", "bert_cased", "llama2", "mistral", "llama3", "qwen2", "gemma", "t5",
            "xlmr", "albert", "whisper", "wordlevel")


def build(name: str, workdir, *, vocab_size: Optional[int] = None, corpus: Optional[Iterable[str]] = None) -> Built:
    """Build shape ``name`` in ``workdir`` (created), save ``<workdir>/<name>.json``, and return it
    loaded back with ``tokenizers.Tokenizer.from_file``. ``vocab_size`` overrides the shape's small
    default; ``corpus`` the training text (default: :func:`training_corpus`)."""
    tokenizers = _tk()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = _Ctx(workdir=workdir, vocab_size=vocab_size, corpus=list(corpus) if corpus is not None else training_corpus())
    hf, added = SHAPES[name](ctx)
    path = workdir / f"{name}.json"
    hf.save(str(path), pretty=True)
    loaded = tokenizers.Tokenizer.from_file(str(path))
    return Built(name=name, path=str(path), hf=loaded, added=list(added))


if __name__ == "__main__":  # python tests/_hf_shapes.py [OUTDIR [NAME ...]]: build and summarise
    import sys
    import tempfile
    import time

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="hf_shapes_"))
    for name in sys.argv[2:] or SHAPES:
        t0 = time.perf_counter()
        b = build(name, out)
        j = b.json
        parts = [j["model"]["type"]] + [(j[k] or {}).get("type", "-") for k in ("normalizer", "pre_tokenizer", "post_processor", "decoder")]
        enc = b.hf.encode("Hello wörld 日本 😀 " + " ".join(b.added[:2]))
        print(f"{name:24s} {time.perf_counter() - t0:5.2f}s vocab {b.hf.get_vocab_size():5d}  {' / '.join(parts)}  {enc.tokens[:12]}")
    print(out)
