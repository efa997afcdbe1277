"""Isabelle symbols: counting positions the way Isabelle does, and Unicode normalisation.

Isabelle reports ``offset``/``end_offset`` as 1-based counts of *symbols*, where a symbol is
one code point or one ``\\<name>`` / ``\\<^name>`` sequence.
"""

from __future__ import annotations

import re
from bisect import bisect_right

SYMBOL_RE = re.compile(r"\\<\^?[A-Za-z][A-Za-z0-9_']*>|.", re.S)

# Unicode characters LLMs like to write, mapped to Isabelle's ASCII symbol notation.
# To Isabelle's parser `≤` is not `\<le>`; theory text is normalised before checking.
UNICODE_TO_SYMBOL: dict[str, str] = {
    "≤": "\\<le>", "≥": "\\<ge>", "≠": "\\<noteq>", "¬": "\\<not>", "∧": "\\<and>",
    "∨": "\\<or>", "→": "\\<rightarrow>", "⟶": "\\<longrightarrow>", "⇒": "\\<Rightarrow>",
    "⟹": "\\<Longrightarrow>", "↔": "\\<leftrightarrow>", "⟷": "\\<longleftrightarrow>",
    "⇔": "\\<Leftrightarrow>", "⟺": "\\<Longleftrightarrow>", "∀": "\\<forall>",
    "∃": "\\<exists>", "∄": "\\<nexists>", "∈": "\\<in>", "∉": "\\<notin>", "⊆": "\\<subseteq>",
    "⊂": "\\<subset>", "⊇": "\\<supseteq>", "⊃": "\\<supset>", "∪": "\\<union>",
    "∩": "\\<inter>", "⋃": "\\<Union>", "⋂": "\\<Inter>", "∅": "\\<emptyset>",
    "×": "\\<times>", "·": "\\<cdot>", "∘": "\\<circ>", "√": "sqrt", "∑": "\\<Sum>",
    "∏": "\\<Prod>", "Σ": "\\<Sum>", "Π": "\\<Prod>", "λ": "\\<lambda>", "α": "\\<alpha>",
    "β": "\\<beta>", "γ": "\\<gamma>", "δ": "\\<delta>", "ε": "\\<epsilon>", "ζ": "\\<zeta>",
    "η": "\\<eta>", "θ": "\\<theta>", "ι": "\\<iota>", "κ": "\\<kappa>", "μ": "\\<mu>",
    "ν": "\\<nu>", "ξ": "\\<xi>", "π": "pi", "ρ": "\\<rho>", "σ": "\\<sigma>", "τ": "\\<tau>",
    "φ": "\\<phi>", "χ": "\\<chi>", "ψ": "\\<psi>", "ω": "\\<omega>", "Γ": "\\<Gamma>",
    "Δ": "\\<Delta>", "Θ": "\\<Theta>", "Λ": "\\<Lambda>", "Ξ": "\\<Xi>", "Φ": "\\<Phi>",
    "Ψ": "\\<Psi>", "Ω": "\\<Omega>", "∞": "\\<infinity>", "⌊": "\\<lfloor>", "⌋": "\\<rfloor>",
    "⌈": "\\<lceil>", "⌉": "\\<rceil>", "ℕ": "\\<nat>", "ℤ": "\\<int>", "ℚ": "\\<rat>",
    "ℝ": "\\<real>", "ℂ": "\\<complex>", "‹": "\\<open>", "›": "\\<close>", "⟨": "\\<langle>",
    "⟩": "\\<rangle>", "≡": "\\<equiv>", "≪": "\\<lless>", "≫": "\\<ggreater>", "∣": "dvd",
    "⊢": "\\<turnstile>", "∗": "*", "−": "-", "≈": "\\<approx>", "±": "\\<plusminus>",
    "⋀": "\\<And>", "⋁": "\\<Or>", "↦": "\\<mapsto>", "⊥": "\\<bottom>", "⊤": "\\<top>",
    "²": "\\<^sup>2", "³": "\\<^sup>3", "₀": "\\<^sub>0", "₁": "\\<^sub>1", "₂": "\\<^sub>2",
    "₃": "\\<^sub>3", "₄": "\\<^sub>4", "ᵢ": "\\<^sub>i", "ₙ": "\\<^sub>n", "…": "\\<dots>",
    "\u00a0": " ", "\u2009": " ", "\u200b": "",
}

_UNICODE_RE = re.compile("|".join(re.escape(k) for k in UNICODE_TO_SYMBOL))


def normalize_unicode(text: str) -> str:
    """Replace the Unicode characters above by their ASCII symbol spelling."""
    return _UNICODE_RE.sub(lambda m: UNICODE_TO_SYMBOL[m.group(0)], text)


def symbols(text: str) -> list[str]:
    """Split text into Isabelle symbols."""
    return SYMBOL_RE.findall(text)


def decode_symbols(text: str) -> str:
    """Make Isabelle message text readable for a person or an LLM: drop position markers."""
    return text.replace("\\<^here>", "").replace("\u0005", "")


class SymbolIndex:
    """Maps Isabelle's 1-based symbol offsets to character indices of one text, and back.

    >>> idx = SymbolIndex('lemma "\\\\<forall>x. P x"')
    >>> idx.char_index(9)   # the symbol after \\<forall>
    16
    """

    def __init__(self, text: str) -> None:
        self._text = text
        starts = [m.start() for m in SYMBOL_RE.finditer(text)]
        self._starts = starts

    def char_index(self, offset: int) -> int:
        """Character index of the symbol at 1-based ``offset`` (clamped to the text)."""
        if offset <= 0:
            return 0
        if offset > len(self._starts):
            return len(self._text)
        return self._starts[offset - 1]

    def symbol_offset(self, char_index: int) -> int:
        """1-based symbol offset of the symbol that contains ``char_index``."""
        return bisect_right(self._starts, char_index)

    def line_of_offset(self, offset: int) -> int:
        return self._text.count("\n", 0, self.char_index(offset)) + 1

    def snippet(self, offset: int, end_offset: int) -> str:
        return self._text[self.char_index(offset): self.char_index(end_offset)]
