{
  "targets": [
    {
      "target_name": "berth_fsx",
      "sources": ["fsx.c", "gunzip.c"],
      "libraries": ["-lisal"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-D_GNU_SOURCE"]
    }
  ]
}
