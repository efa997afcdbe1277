lemma square_nonneg:
  fixes x :: real
  shows "0 \<le> x^2"
  by simp

theorem square_nonneg_sum:
  fixes a b :: real
  shows "0 \<le> a^2 + b^2"
  using square_nonneg[of a] square_nonneg[of b] by linarith
