"""Outer-syntax keyword tables: which words start commands, and which commands we allow.

The guard allow-lists commands; the deny tables exist so that a known-dangerous word is
rejected wherever it stands, even where our command splitting would not expect it.
"""

from __future__ import annotations

GOAL_COMMANDS = frozenset({"lemma", "theorem", "corollary", "proposition", "schematic_goal"})

DEFINITION_COMMANDS = frozenset({
    "definition", "abbreviation", "fun", "function", "primrec", "primcorec", "termination",
    "inductive", "inductive_set", "coinductive", "datatype", "codatatype", "type_synonym",
    "typedef", "record", "consts", "nominal_datatype", "lift_definition", "quotient_type",
    "specification", "overloading", "instantiation", "instance", "class", "locale",
    "context", "interpretation", "global_interpretation", "sublocale", "bundle",
    "unbundle", "notation", "no_notation", "syntax", "no_syntax", "translations",
    "no_translations", "type_notation", "no_type_notation", "hide_const", "hide_fact",
    "hide_type", "hide_class", "nonterminal", "named_theorems", "lemmas", "declare",
    "axiomatization", "axioms", "text", "txt", "section", "subsection", "subsubsection",
    "paragraph", "subparagraph", "chapter", "text_raw", "value", "term", "typ", "thm",
    "prop", "find_theorems", "print_theorems", "export_code", "code_printing",
    "code_reflect", "code_thms", "code_deps", "setup", "local_setup", "declaration",
    "syntax_declaration", "attribute_setup", "method_setup", "simproc_setup", "oracle",
    "parse_translation", "print_translation", "typed_print_translation",
    "parse_ast_translation", "print_ast_translation", "generate_file",
    "export_generated_files", "compile_generated_files", "external_file",
    "scala_build_generated_files", "theory", "end", "thm_oracles", "thm_deps",
    "print_state", "sledgehammer_params", "nitpick_params", "quickcheck_params",
    "unused_thms", "judgement", "alias", "type_alias", "experiment", "notepad",
    "include", "print_statement", "print_context", "welcome", "help", "find_consts",
    "nunchaku", "smt_status",
})

PROOF_COMMANDS = frozenset({
    "proof", "qed", "by", "apply", "apply_end", "done", ".", "..", "sorry", "oops",
    "have", "show", "hence", "thus", "obtain", "fix", "assume", "presume", "from",
    "with", "using", "unfolding", "note", "let", "define", "def", "consider", "case",
    "next", "then", "moreover", "ultimately", "also", "finally", "{", "}", "subgoal",
    "defer", "prefer", "back", "supply", "including", "interpret", "guess", "write",
    "sledgehammer", "try0", "try", "nitpick", "quickcheck", "print_facts", "print_cases",
    "print_statement", "solve_direct",
})

# Any word starting with these runs ML (ML, ML_val, ML_prf, ML_file, SML_import, ...).
ML_PREFIXES = ("ML", "SML")

# Every word a command split could start a span at.
COMMAND_WORDS = GOAL_COMMANDS | DEFINITION_COMMANDS | PROOF_COMMANDS

# What an LLM-written proof body may contain: lemmas and their proofs, fact bundles, and
# `declare` (attributes only; `[[...]]` options are rejected separately).
ALLOWED_TOP_COMMANDS = GOAL_COMMANDS - {"schematic_goal"} | {"lemmas", "declare"}
ALLOWED_PROOF_COMMANDS = PROOF_COMMANDS - {
    "sorry", "oops", "try", "nitpick", "quickcheck", "print_facts", "print_cases",
    "print_statement", "solve_direct", "write", "guess", "def",
}

# Words that are rejected wherever they appear outside strings and comments: proof
# skipping, logic-extending commands, ML hooks, and methods that run ML.
FORBIDDEN_WORDS: dict[str, str] = {
    "sorry": "skipped_proof",
    "oops": "skipped_proof",
    "quick_and_dirty": "quick_and_dirty",
    "skip_proof": "skipped_proof",
    "cheat_tac": "skipped_proof",
    "axiomatization": "axiom",
    "axioms": "axiom",
    "oracle": "oracle",
    "setup": "ml_code",
    "local_setup": "ml_code",
    "declaration": "ml_code",
    "syntax_declaration": "ml_code",
    "attribute_setup": "ml_code",
    "method_setup": "ml_code",
    "simproc_setup": "ml_code",
    "parse_translation": "ml_code",
    "print_translation": "ml_code",
    "typed_print_translation": "ml_code",
    "parse_ast_translation": "ml_code",
    "print_ast_translation": "ml_code",
    "tactic": "ml_code",
    "raw_tactic": "ml_code",
    "code_reflect": "ml_code",
    "export_code": "host_io",
    "generate_file": "host_io",
    "export_generated_files": "host_io",
    "compile_generated_files": "host_io",
    "external_file": "host_io",
    "scala_build_generated_files": "host_io",
    "code_printing": "ml_code",
}

# Control symbols that are plain notation inside a cartouche; any other \<^name> in a
# cartouche or formal comment may be an antiquotation that runs ML.
HARMLESS_CONTROL_SYMBOLS = frozenset({
    "\\<^sub>", "\\<^sup>", "\\<^isub>", "\\<^isup>", "\\<^bsub>", "\\<^esub>",
    "\\<^bsup>", "\\<^esup>", "\\<^bold>", "\\<^emph>",
})

# Theories that an import of the key already loads: a proof file whose header names one of
# these asks for nothing our header does not give it. (Session-qualified names of HOL's
# own theories, e.g. `HOL.Main`, are reduced to the plain name before the lookup.)
IMPLIED_IMPORTS: dict[str, frozenset[str]] = {
    "Complex_Main": frozenset({"Main", "HOL", "Pure", "Real", "Complex", "Transcendental", "Rat"}),
    "Main": frozenset({"HOL", "Pure"}),
    "HOL": frozenset({"Pure"}),
}
