/* libxml2 can be built with ICU; its ICU headers clash with the copy of ICU that Swift's Foundation
 * carries. chunkvol never touches encoding handlers, so the ICU part of the headers is left out. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
