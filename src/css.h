/* css: a CSS selector turned into the XPath 1.0 expression that selects
 * the same elements of an HTML tree, for --extract NAME=css:SELECTOR.
 *
 * The subset, which covers what scrapers write:
 * - groups: A, B
 * - compound selectors: a type (any case) or *, #id, .class, [attr],
 *   [attr=v], [attr~=v], [attr|=v], [attr^=v], [attr$=v], [attr*=v]
 *   (v an identifier or a quoted string), :first-child, :last-child,
 *   :only-child, :nth-child(An+B) (also odd, even, B), :not(SIMPLE) where
 *   SIMPLE is one of the above but a combinator-free, single simple
 *   selector;
 * - combinators: descendant (white space), child (>), next sibling (+),
 *   later sibling (~);
 * - as in Scrapy, a final ::text (the element's own text nodes) or
 *   ::attr(NAME) (an attribute's value).
 * Anything else (other pseudo-classes, namespaces) is refused with
 * the reason, rather than guessed at. Identifiers are ASCII letters,
 * digits, '-' and '_', bytes >= 0x80 and CSS escapes ("\3A " or "\:"
 * for ':', as in Tailwind's ".md\:flex"), in values and strings too.
 * The selectors of a group end alike (all ::text, all the same ::attr(),
 * or none), at most CSS_MAX_SELECTORS of them, each of at most
 * CSS_MAX_COMPOUNDS compounds.
 *
 * The XPath matches right to left, as browsers do: one step over the
 * elements, "descendant-or-self::LAST[...]", with what must hold to the
 * left as predicates (ancestor::, parent::, preceding-sibling::), so each
 * element is tested once and the work is counted by libxml2's operation
 * budget. A path (ul/descendant::li) or a union (A | B) would have
 * libxml2 merge node sets, which it does not count: quadratic or worse on
 * a hostile page. With an :nth-child(An+B) on the last compound, the
 * step is every node's element children, where position() is the index
 * among siblings, then the rest as predicates; elsewhere :nth-child(An+B)
 * counts the earlier siblings (quadratic on a long list: the budget ends
 * it). */
#ifndef SPATE_CSS_H
#define SPATE_CSS_H

#include <stddef.h>

#define CSS_MAX_COMPOUNDS 32
#define CSS_MAX_SELECTORS 64

/* The selector's XPath (owned), or NULL with a one-line reason in err
 * (out of memory included). */
char *css_to_xpath(const char *selector, char *err, size_t errlen);

#endif
