theorem two_plus_three:
  "(2::nat) + 3 = 5"
  by simp
