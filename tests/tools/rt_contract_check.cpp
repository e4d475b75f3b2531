// The RT contract, checked: every function tagged `// rt-safe` says which guarantee it gives
// (`rt-safe: wait-free`, `lock-free`, `bounded`, or `waits for ...`) and is `noexcept`; a tagged
// declaration in a header that returns a value is `[[nodiscard]]`; and every `noexcept` function
// declared in an RT entry-point header (the engine's RT views, the device loop) carries a tag.
// And every std::atomic declared in include/ and src/ says why it is ordered as it is: an
// `order:` comment on its line, or above it (over the atomics declared with it).
//
// rt_contract_check ROOT [ENTRY_HEADER...]: scans ROOT/include and ROOT/src, prints each tagged
// function and every violation (file:line: why), exits 1 on any.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct line_parts {
    std::string code;    // before `//`
    std::string comment; // after `//` (empty: none)
};

line_parts split(const std::string& line) {
    // `//` inside a string literal does not occur on tagged lines; a plain search is enough.
    const auto at = line.find("//");
    if (at == std::string::npos) return {line, {}};
    return {line.substr(0, at), line.substr(at + 2)};
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }

std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Where a comment tags a function: `rt-safe` not preceded by "not ".
bool is_tag(const std::string& comment, std::string& guarantee) {
    const auto at = comment.find("rt-safe");
    if (at == std::string::npos) return false;
    if (at >= 4 && comment.compare(at - 4, 4, "not ") == 0) return false;
    guarantee = comment.substr(at + 7);
    return true;
}

bool good_guarantee(const std::string& after_tag) {
    if (after_tag.rfind(": ", 0) != 0) return false;
    const std::string g = after_tag.substr(2);
    for (const char* ok : {"wait-free", "lock-free", "bounded", "waits for"}) {
        if (g.rfind(ok, 0) == 0) return true;
    }
    return false;
}

struct violation_log {
    int count = 0;
    void add(const fs::path& file, std::size_t line, const std::string& why) {
        std::printf("%s:%zu: %s\n", file.string().c_str(), line + 1, why.c_str());
        ++count;
    }
};

// The declaration a tag belongs to: the code on its own line, or the lines after its comment
// block, up to the `{` or `;` that ends the signature.
std::string declaration_after(const std::vector<std::string>& lines, std::size_t tag_line, std::size_t& first) {
    std::size_t i = tag_line;
    if (blank(split(lines[i]).code)) {
        ++i;
        while (i < lines.size() && blank(split(lines[i]).code)) ++i;
    } else {
        // A trailing tag on the last line of a signature: start where it opened.
        while (i > 0 && split(lines[i]).code.find('(') == std::string::npos && !blank(split(lines[i - 1]).code)) --i;
    }
    first = i;
    std::string text;
    for (std::size_t k = i; k < lines.size() && k < i + 12; ++k) {
        const std::string code = split(lines[k]).code;
        text += ' ' + trim(code);
        if (code.find('{') != std::string::npos || code.find(';') != std::string::npos) break;
    }
    return text;
}

bool returns_value(const std::string& decl) {
    const auto paren = decl.find('(');
    if (paren == std::string::npos) return false;
    std::string head = decl.substr(0, paren);
    for (const char* word : {"[[nodiscard]]", "static ", "inline ", "constexpr ", "virtual ", "explicit ", "friend "}) {
        for (auto at = head.find(word); at != std::string::npos; at = head.find(word)) head.erase(at, std::string(word).size());
    }
    head = trim(head);
    if (head.rfind("template", 0) == 0) {
        const auto close = head.find('>');
        head = close == std::string::npos ? head : trim(head.substr(close + 1));
    }
    if (head.find(' ') == std::string::npos) return false; // a constructor, destructor or macro
    if (head.rfind("void ", 0) == 0 || head.find("operator") != std::string::npos) return false;
    return true;
}

// A declaration of an atomic variable (a member, or a namespace-scope inline).
bool declares_atomic(const std::string& code) {
    std::string t = trim(code);
    for (const char* prefix : {"alignas(", "inline ", "static ", "mutable "}) {
        while (t.rfind(prefix, 0) == 0) {
            const auto end = std::string(prefix) == "alignas(" ? t.find(')') + 1 : std::string(prefix).size();
            t = trim(t.substr(end));
        }
    }
    return t.rfind("std::atomic<", 0) == 0 || t.rfind("std::array<std::atomic<", 0) == 0;
}

// Its `order:` reason: on the line, or in the comment block right above the run of atomic
// declarations it belongs to.
bool has_order_reason(const std::vector<std::string>& lines, std::size_t at) {
    if (split(lines[at]).comment.find("order:") != std::string::npos) return true;
    for (std::size_t k = at; k > 0; --k) {
        const line_parts above = split(lines[k - 1]);
        if (above.comment.find("order:") != std::string::npos) return true;
        const bool comment_only = blank(above.code) && !above.comment.empty();
        if (!comment_only && !declares_atomic(above.code)) return false;
    }
    return false;
}

bool is_constructor(const std::string& code) {
    std::string head = trim(code.substr(0, code.find('(')));
    for (const char* word : {"explicit ", "constexpr ", "inline "}) {
        if (head.rfind(word, 0) == 0) head = trim(head.substr(std::string(word).size()));
    }
    return !head.empty() && head.find(' ') == std::string::npos && head.find("[[") == std::string::npos;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: rt_contract_check ROOT [ENTRY_HEADER...]\n");
        return 2;
    }
    const fs::path root = argv[1];
    std::set<std::string> entry_headers;
    for (int i = 2; i < argc; ++i) entry_headers.insert(argv[i]);
    violation_log bad;
    int tagged = 0;
    int atomics = 0;
    std::vector<fs::path> files;
    for (const char* dir : {"include", "src"}) {
        if (!fs::exists(root / dir)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(root / dir)) {
            const auto ext = entry.path().extension();
            if (ext == ".h" || ext == ".cpp" || ext == ".hpp") files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        std::ifstream in(file);
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        const std::string relative = fs::relative(file, root).string();
        const bool header = file.extension() != ".cpp";
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (!declares_atomic(split(lines[i]).code)) continue;
            ++atomics;
            if (has_order_reason(lines, i)) continue;
            bad.add(relative, i, "std::atomic without an `order:` comment saying why its accesses are ordered as they are");
        }
        std::set<std::size_t> declarations_tagged;
        for (std::size_t i = 0; i < lines.size(); ++i) {
            std::string guarantee;
            if (!is_tag(split(lines[i]).comment, guarantee)) continue;
            std::size_t first = 0;
            const std::string decl = declaration_after(lines, i, first);
            if (decl.find('(') == std::string::npos) continue; // prose about rt-safety, not a tag
            ++tagged;
            declarations_tagged.insert(first);
            std::printf("tagged: %s:%zu:%s\n", relative.c_str(), first + 1, decl.substr(0, decl.find('(')).c_str());
            if (!good_guarantee(guarantee)) bad.add(relative, i, "rt-safe without its guarantee (rt-safe: wait-free | lock-free | bounded | waits for ...)");
            if (decl.find("noexcept") == std::string::npos && decl.find("AE_RT_NOEXCEPT") == std::string::npos) bad.add(relative, first, "tagged rt-safe but not noexcept");
            if (header && decl.find("[[nodiscard]]") == std::string::npos && returns_value(decl)) {
                bad.add(relative, first, "tagged rt-safe, returns a value, but not [[nodiscard]]");
            }
        }
        if (!entry_headers.contains(relative)) continue;
        // Every noexcept function an RT entry-point header declares is tagged.
        std::string guarantee_unused;
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const std::string code = split(lines[i]).code;
            if (code.find("noexcept") == std::string::npos || code.find('(') == std::string::npos) continue;
            if (is_constructor(code) || code.find("operator=") != std::string::npos || code.find("= default") != std::string::npos ||
                code.find("= delete") != std::string::npos || code.find("&&") != std::string::npos) {
                continue; // special members
            }
            std::size_t first = i;
            while (first > 0 && split(lines[first]).code.find('(') == std::string::npos) --first;
            // A tag covers the declarations right under it: walk up over them to their comment.
            std::size_t top = first;
            while (top > 0 && !blank(split(lines[top - 1]).code) && split(lines[top - 1]).comment.empty()) --top;
            bool has_tag = declarations_tagged.contains(first) || is_tag(split(lines[i]).comment, guarantee_unused);
            for (std::size_t k = top; !has_tag && k > 0 && blank(split(lines[k - 1]).code) && !blank(lines[k - 1]); --k) {
                has_tag = is_tag(split(lines[k - 1]).comment, guarantee_unused);
            }
            if (!has_tag) bad.add(relative, first, "noexcept function in an RT entry-point header without an rt-safe tag");
        }
    }
    std::printf("%d atomics declared\n", atomics);
    std::printf("%d functions tagged rt-safe, %d violations\n", tagged, bad.count);
    return bad.count == 0 ? 0 : 1;
}
