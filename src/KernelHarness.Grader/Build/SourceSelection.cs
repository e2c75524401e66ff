using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;

namespace KernelHarness.Grader.Build;

/// <summary>
/// Chooses the student files the trusted build copies: regular C# files matching the assignment's
/// <c>sources</c> globs, never a symlink (it could point at hidden tests), never under bin/ or obj/,
/// within size limits.
/// </summary>
public static class SourceSelection
{
    public const int MaxFiles = 500;
    public const long MaxFileBytes = 1 << 20;

    public static IReadOnlyList<string> Select(string submissionDir, IReadOnlyList<string> patterns, List<string> notes)
    {
        var regexes = patterns.Select(Glob).ToList();
        var root = Path.GetFullPath(submissionDir);
        var result = new List<string>();
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            foreach (var sub in Directory.GetDirectories(dir))
            {
                var name = Path.GetFileName(sub);
                if (new DirectoryInfo(sub).LinkTarget is not null || name is "bin" or "obj" or ".git" || name.StartsWith('.'))
                    continue;
                pending.Push(sub);
            }
            foreach (var file in Directory.GetFiles(dir))
            {
                var rel = Path.GetRelativePath(root, file).Replace('\\', '/');
                if (!rel.EndsWith(".cs", StringComparison.Ordinal) || !regexes.Any(r => r.IsMatch(rel)))
                    continue;
                var info = new FileInfo(file);
                if (info.LinkTarget is not null)
                {
                    notes.Add($"{rel}: skipped (a symbolic link)");
                    continue;
                }
                if (info.Length > MaxFileBytes)
                {
                    notes.Add($"{rel}: skipped (larger than {MaxFileBytes} bytes)");
                    continue;
                }
                result.Add(rel);
            }
        }
        result.Sort(StringComparer.Ordinal);
        if (result.Count > MaxFiles)
        {
            notes.Add($"only the first {MaxFiles} of {result.Count} source files were used");
            result = result.Take(MaxFiles).ToList();
        }
        return result;
    }

    /// <summary><c>**</c> matches any folders, <c>*</c> any characters but '/', <c>?</c> one.</summary>
    public static Regex Glob(string pattern)
    {
        var sb = new StringBuilder("^");
        var p = pattern.Replace('\\', '/');
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '*' && i + 1 < p.Length && p[i + 1] == '*')
            {
                bool slash = i + 2 < p.Length && p[i + 2] == '/';
                sb.Append(slash ? "(?:.*/)?" : ".*");
                i += slash ? 2 : 1;
            }
            else if (c == '*')
                sb.Append("[^/]*");
            else if (c == '?')
                sb.Append("[^/]");
            else
                sb.Append(Regex.Escape(c.ToString()));
        }
        sb.Append('$');
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant);
    }
}
