# cmake -DIN=file -DOUT=file.cpp -DSYMBOL=name -P EmbedFile.cmake: writes a C++ source that defines
# `extern const unsigned char ravnest::detail::<SYMBOL>[]` holding IN's bytes and a final NUL.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "// Generated from ${IN} by cmake/EmbedFile.cmake.\nnamespace ravnest::detail {\nextern const unsigned char ${SYMBOL}[];\nconst unsigned char ${SYMBOL}[] = {${bytes} 0};\n}  // namespace ravnest::detail\n")
