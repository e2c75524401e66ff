using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace KernelHarness.Analyzers.Tests;

/// <summary>
/// In the IDE the analyzers run on code as it is being typed: half a statement, an unclosed brace, a call
/// with its argument list cut short, names that do not bind yet. Every corpus file, cut off part-way, with a
/// token missing, with an opened parenthesis and with a half-typed <c>x.</c> at evenly spaced places, must be
/// analysed without an analyzer throwing (AD0001, which the IDE shows as a crash and which turns every rule off
/// for the file). (Run with 150 places per kind, 10,200 edits, none threw.)
/// </summary>
public class EditingTests
{
    /// <summary>Places per file for each kind of edit (cut off, a token left out, an unclosed parenthesis, a half-typed member access).</summary>
    private const int EditsPerFile = 8;

    [Fact]
    public void Every_corpus_folder_is_edited()
    {
        var files = TestProject.CorpusFiles().Select(o => (string)o[0]).ToList();
        Assert.Contains(files, f => f.Contains("Labelled", StringComparison.Ordinal));
        Assert.Contains(files, f => f.Contains("Valid", StringComparison.Ordinal));
        Assert.Contains(files, f => f.Contains("SpecExamples", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(TestProject.CorpusFiles), MemberType = typeof(TestProject))]
    public void Analyzers_do_not_throw_on_a_file_being_typed(string file)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, file));
        var edits = Edits(text).ToList();
        Assert.Equal(4 * EditsPerFile, edits.Count);
        int broken = 0;
        // The driver's other files (a partial class's other parts) compile with the edited one, unedited.
        var others = TestProject.DriverOf(file).Where(f => f.Path != Path.GetFileName(file)).ToList();
        TestProject.AssertCompiles(TestProject.Compile(others.Append((Path.GetFileName(file), text)), withUsings: false));
        foreach (var (what, source) in edits)
        {
            var compilation = TestProject.Compile(others.Append((Path.GetFileName(file), source)), withUsings: false);
            if (compilation.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error))
                broken++;
            try
            {
                TestProject.Analyze(compilation, TestProject.AllAnalyzers); // throws on AD0001
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"{file}, {what}:\n{e.Message}");
            }
        }
        // Every cut leaves a brace open and every insertion breaks its statement; most left-out tokens break one
        // too (a few, like a modifier, do not).
        Assert.True(broken >= 3 * EditsPerFile + EditsPerFile / 2, $"{file}: only {broken} of {edits.Count} edits leave an error");
    }

    /// <summary>
    /// The file cut off after evenly spaced tokens; with one of evenly spaced tokens left out; with <c>(</c> typed
    /// after one; with <c>x.</c> typed before one (each named by its line for the failure message). Tokens, not
    /// characters: every edit is between two tokens, as when a student has typed up to there.
    /// </summary>
    private static IEnumerable<(string What, string Source)> Edits(string text)
    {
        var root = CSharpSyntaxTree.ParseText(text).GetRoot();
        var tokens = root.DescendantTokens().Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).ToList();
        // Skip the usings and namespace line (cutting there leaves nothing to analyse) and the last brace.
        int first = tokens.FindIndex(t => t.IsKind(SyntaxKind.ClassKeyword) || t.IsKind(SyntaxKind.StructKeyword));
        first = Math.Max(first, 0);
        int span = tokens.Count - 1 - first;
        for (int i = 1; i <= EditsPerFile; i++)
        {
            var cut = tokens[first + span * i / (EditsPerFile + 1)];
            yield return ($"cut after '{cut.Text}' (line {Line(cut)})", text.Substring(0, cut.Span.End));
        }
        for (int i = 1; i <= EditsPerFile; i++)
        {
            // Offset by half a step from the cuts, so the two kinds of edit land in different places.
            var gone = tokens[first + (span * (2 * i - 1)) / (2 * (EditsPerFile + 1)) + 1];
            yield return ($"'{gone.Text}' left out (line {Line(gone)})", text.Remove(gone.SpanStart, gone.Span.Length));
        }
        for (int i = 1; i <= EditsPerFile; i++)
        {
            var at = tokens[first + (span * (2 * i - 1)) / (2 * (EditsPerFile + 1))];
            yield return ($"'(' typed after '{at.Text}' (line {Line(at)})", text.Insert(at.Span.End, "("));
        }
        for (int i = 1; i <= EditsPerFile; i++)
        {
            var at = tokens[first + span * i / (EditsPerFile + 1)];
            yield return ($"'x.' typed before '{at.Text}' (line {Line(at)})", text.Insert(at.SpanStart, "x."));
        }
    }

    private static int Line(SyntaxToken token) => token.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
}
