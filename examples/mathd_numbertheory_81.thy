(* A proof of miniF2F valid problem mathd_numbertheory_81, for trying `lego-prover check`:
   lego-prover check examples/mathd_numbertheory_81.thy \
     --problem mathd_numbertheory_81 --benchmark-dir ../shared/minif2f *)

theorem mathd_numbertheory_81:
  "71 mod 3 = (2::nat)"
  by simp
