using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace KernelHarness.Analyzers.Tests.Summaries;

/// <summary>
/// Which declarations mention a name (the candidates for a question about a symbol of that name) are found in a
/// file's text and checked against its syntax. They must be exactly the declarations whose code holds an
/// identifier token of that value, which is what a walk over every token finds: the two are compared here.
/// </summary>
public class MentionTests
{
    private const string Tricky = """
        using System;
        using static KernelHarness.Kernel;

        /// <summary>Calls <see cref="poll"/> — a comment, not code: poll()</summary>
        public sealed class Dev
        {
            private readonly Action cb = () => poll();          // a field initializer that calls it
            private readonly string words = "poll() in a string";
            private int counter = poll_count + xpoll;           // longer names only
            private static int poll_count, xpoll;

            public Dev() : this(nameof(poll)) { }               // a constructor initializer
            private Dev(string s) { }

            [Obsolete("poll")]                                  // an attribute: a declaration with code of its own
            public void probe(int poll = 0)                     // a parameter's name and default: signature, not code
            {
                @poll();                                        // a verbatim identifier
                Action local = [Obsolete] () => poll();         // an attribute inside a body belongs to the body
                var text = $"{poll_count} {Id(poll)}";           // inside an interpolation
        #if NEVER
                poll();                                         // disabled text
        #endif
            }

            private static void poll() { }                      // the declaration's own name
            private static string Id(Action a) => "poll";
            public int Depth => poll_count;                     // an expression-bodied property
            public int Count { get { poll(); return 0; } }      // an accessor
        }
        """;

    private static FileDeclarations Parse(string source, out SyntaxTree tree)
    {
        tree = CSharpSyntaxTree.ParseText(source, path: "Dev.cs");
        return FileDeclarations.Of(tree);
    }

    private static List<SyntaxNode> Found(FileDeclarations file, string name, bool walking)
    {
        var found = default(Few<SyntaxNode>);
        if (walking)
            file.FindMentionsByWalking(name, span: null, ref found);
        else
            file.FindMentions(name, span: null, ref found);
        var list = new List<SyntaxNode>();
        foreach (var d in found)
            list.Add(d);
        return list;
    }

    private static string Describe(SyntaxNode declaration) => declaration switch
    {
        MethodDeclarationSyntax m => m.Identifier.ValueText + "()",
        ConstructorDeclarationSyntax c => "ctor(" + c.ParameterList.Parameters.Count + ")",
        AccessorDeclarationSyntax a => ((PropertyDeclarationSyntax)a.Parent!.Parent!).Identifier.ValueText + "." + a.Keyword.ValueText,
        ArrowExpressionClauseSyntax a => ((PropertyDeclarationSyntax)a.Parent!).Identifier.ValueText + " =>",
        EqualsValueClauseSyntax e => ((VariableDeclaratorSyntax)e.Parent!).Identifier.ValueText + " =",
        AttributeSyntax a => "[" + a.Name + "]",
        _ => declaration.Kind().ToString(),
    };

    [Fact]
    public void The_code_that_names_it_mentions_it_and_nothing_else_does()
    {
        var file = Parse(Tricky, out _);
        // The field initializer, the constructor initializer (nameof), probe's body (the verbatim call, the lambda,
        // the attribute on the lambda, the interpolation), and the getter. Not: comments, strings, longer names,
        // the parameter named poll, disabled text, poll's own declaration, the attribute on probe.
        Assert.Equal(new[] { "cb =", "ctor(0)", "probe()", "Count.get" }, Found(file, "poll", walking: false).Select(Describe));
    }

    [Theory]
    [InlineData("poll")]
    [InlineData("poll_count")]
    [InlineData("xpoll")]
    [InlineData("Obsolete")]
    [InlineData("Id")]
    [InlineData("probe")]
    [InlineData("s")]
    [InlineData("Action")]
    public void Searching_the_text_finds_what_walking_the_tokens_finds(string name)
    {
        var file = Parse(Tricky, out _);
        Assert.Equal(Found(file, name, walking: true).Select(Describe), Found(file, name, walking: false).Select(Describe));
    }

    [Fact]
    public void An_escaped_identifier_is_a_mention_of_the_name_it_spells()
    {
        // \u0070 is 'p': the text never says "poll", the token's value does.
        var file = Parse("class C { void f() { \\u0070oll(); } static void poll() { } }", out _);
        Assert.Equal(new[] { "f()" }, Found(file, "poll", walking: false).Select(Describe));
    }

    [Theory]
    [MemberData(nameof(TestProject.CorpusFiles), MemberType = typeof(TestProject))]
    public void Every_name_of_a_corpus_file_is_found_the_same_both_ways(string path)
    {
        var file = Parse(System.IO.File.ReadAllText(System.IO.Path.Combine(System.AppContext.BaseDirectory, path)), out var tree);
        var names = tree.GetRoot().DescendantTokens().Where(t => t.IsKind(SyntaxKind.IdentifierToken)).Select(t => t.ValueText).Distinct().ToList();
        Assert.NotEmpty(names);
        foreach (var name in names)
            Assert.Equal(Found(file, name, walking: true), Found(file, name, walking: false));
    }

    [Theory]
    [MemberData(nameof(TestProject.CorpusFiles), MemberType = typeof(TestProject))]
    public void A_file_s_declarations_are_the_nodes_a_walk_of_its_declarations_finds_in_order(string path)
    {
        var tree = CSharpSyntaxTree.ParseText(System.IO.File.ReadAllText(System.IO.Path.Combine(System.AppContext.BaseDirectory, path)));
        Assert.Equal(Reference(tree), FileDeclarations.Of(tree).Declarations);
    }

    [Fact]
    public void The_tricky_file_s_declarations_are_the_nodes_a_walk_of_its_declarations_finds_in_order()
    {
        var file = Parse(Tricky, out var tree);
        Assert.Equal(Reference(tree), file.Declarations);
        Assert.Equal(new[] { "cb =", "counter =", "ctor(0)", "ctor(1)", "probe()", "[Obsolete]", "poll()", "Id()", "Depth =>", "Count.get" }, file.Declarations.Select(Describe));
    }

    /// <summary>What <see cref="FileDeclarations.Of"/> must find: every declaration with code outside code, as <c>DescendantNodes</c> lists them.</summary>
    private static List<SyntaxNode> Reference(SyntaxTree tree)
        => tree.GetRoot().DescendantNodes(n => !FileDeclarations.IsCode(n)).Where(FileDeclarations.IsDeclarationWithCode).ToList();

    [Fact]
    public void A_compilation_asked_about_many_public_names_still_finds_each_one_s_mentions()
    {
        // Past CompilationIndex.NamesSearchedEverywhere public names, the files holding each identifier are listed
        // once and a name is looked for only in its files: every handler registered in another file is still found.
        int count = CompilationIndex.NamesSearchedEverywhere + 6;
        var handlers = new System.Text.StringBuilder("public static class Handlers\n{\n");
        var probes = new System.Text.StringBuilder("public static class Probe\n{\n    public static void probe()\n    {\n");
        for (int i = 0; i < count; i++)
        {
            handlers.Append($"    public static irqreturn_t handler{i}(int irq, object? dev)\n    {{\n        msleep(1);\n        return IRQ_HANDLED;\n    }}\n");
            probes.Append($"        request_irq({i}, Handlers.handler{i}, 0, \"d{i}\", null);\n");
        }
        var compilation = Infrastructure.TestProject.Compile(new[] { ("Handlers.cs", handlers.Append("}\n").ToString()), ("Probe.cs", probes.Append("    }\n}\n").ToString()) });
        Infrastructure.TestProject.AssertCompiles(compilation);
        var sleeps = Infrastructure.TestProject.Analyze(compilation, System.Collections.Immutable.ImmutableArray.Create<Microsoft.CodeAnalysis.Diagnostics.DiagnosticAnalyzer>(new KernelHarness.Analyzers.Rules.SleepInAtomicContextAnalyzer()));
        Assert.Equal(count, sleeps.Count(d => d.Id == DiagnosticIds.SleepInAtomicContext));
    }
}
