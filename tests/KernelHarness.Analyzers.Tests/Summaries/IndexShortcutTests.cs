using System.Collections.Generic;
using System.Linq;
using KernelHarness.Analyzers.Summaries;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace KernelHarness.Analyzers.Tests.Summaries;

/// <summary>
/// The index's shortcuts must give what the general way gives. A declaration's method is found among its type's
/// members (the type looked up once per type declaration), not by the semantic model for each member: the same
/// symbol for every declaration (overloads, partial methods' two parts, explicit interface implementations,
/// nested and partial types, generic methods). A private method's registrations are looked for in every
/// declaration of its type once the file is scanned, not only in those that mention it: the same registrations.
/// </summary>
public class IndexShortcutTests
{
    private const string Tricky = """
        using System;

        public interface IDevice { void reset(); int poll(int budget); }

        public sealed partial class Dev : IDevice
        {
            public void reset() { }                             // implements IDevice.reset implicitly
            int IDevice.poll(int budget) => budget;             // explicit: its name is "IDevice.poll"
            public int poll(int budget) => budget + 1;          // overloads of one name
            public int poll(long budget) => (int)budget;
            public T pick<T>(T a, T b) => a;                    // generic
            partial void notify(int code);                      // defined here, implemented below
            partial void notify(int code) { reset(); }
            public static Dev operator +(Dev a, Dev b) => a;    // an operator (the model's path)
            public Dev() { }                                    // a constructor (the model's path)

            private sealed class Inner                          // a nested type: its own members
            {
                public void reset() { }
                public void poll() { }
            }
        }

        public sealed partial class Dev
        {
            public void poll() { }                              // another part of the type, another overload
            public int Depth { get => 0; }                      // an accessor (the model's path)
        }

        public struct Ring { public void reset() { } }
        public record Packet(int Len) { public int size() => Len; }
        """;

    /// <summary>The functions the model gives each declaration with code, in file order (the reference).</summary>
    private static List<IMethodSymbol> DeclaredByModel(Compilation compilation, SyntaxTree tree)
    {
        var model = compilation.GetSemanticModel(tree);
        var list = new List<IMethodSymbol>();
        foreach (var node in FileDeclarations.Of(tree).Declarations)
        {
            var symbol = node switch
            {
                BaseMethodDeclarationSyntax or AccessorDeclarationSyntax => model.GetDeclaredSymbol(node),
                ArrowExpressionClauseSyntax arrow => (model.GetDeclaredSymbol(arrow.Parent!) as IPropertySymbol)?.GetMethod,
                _ => null,
            };
            if (symbol is IMethodSymbol method)
                list.Add(method);
        }
        return list;
    }

    /// <summary>The index's functions of the file, lambdas and local functions left out.</summary>
    private static List<IMethodSymbol> DeclaredByIndex(Compilation compilation, SyntaxTree tree)
        => CompilationModel.CreateUnshared(compilation, structuredBodies: true)!.Index.MethodsIn(tree)
            .Where(m => m.MethodKind is not (MethodKind.AnonymousFunction or MethodKind.LocalFunction)).ToList();

    private static void AssertSameFunctions(Compilation compilation)
    {
        foreach (var tree in compilation.SyntaxTrees)
        {
            var expected = DeclaredByModel(compilation, tree);
            var actual = DeclaredByIndex(compilation, tree);
            Assert.Equal(expected.Select(Describe), actual.Select(Describe));
            Assert.True(expected.SequenceEqual(actual, SymbolEqualityComparer.Default), tree.FilePath);
        }
    }

    private static string Describe(IMethodSymbol m)
        => m.ToDisplayString() + (m.PartialImplementationPart is null && m.PartialDefinitionPart is not null ? " (implementation)" : "");

    [Fact]
    public void Each_declaration_s_method_is_the_one_the_semantic_model_gives()
    {
        var compilation = TestProject.Compile(new[] { ("Dev.cs", Tricky) });
        TestProject.AssertCompiles(compilation);
        var expected = DeclaredByModel(compilation, compilation.SyntaxTrees.First());
        // Not vacuous: the overloads, the explicit implementation and both parts of the partial method are there.
        Assert.Equal(5, expected.Count(m => m.Name.EndsWith("poll", System.StringComparison.Ordinal)));
        Assert.Contains(expected, m => m.MethodKind == MethodKind.ExplicitInterfaceImplementation);
        Assert.Contains(expected, m => m.Name == "notify" && m.PartialDefinitionPart is not null);
        AssertSameFunctions(compilation);
    }

    [Fact]
    public void A_private_method_s_registrations_from_its_scanned_type_are_the_ones_its_mentions_give()
    {
        // RegistrationsOf looks at every declaration of a private method's type when the file is scanned already,
        // instead of finding those that mention the method: the same registrations, on every corpus function.
        var compilation = TestProject.Compile(CorpusSources());
        var index = CompilationModel.CreateUnshared(compilation, structuredBodies: true)!.Index;
        int privateRegistered = 0;
        foreach (var tree in compilation.SyntaxTrees)
        {
            foreach (var m in index.MethodsIn(tree))
            {
                var shortcut = index.RegistrationsOf(m, fromMentions: false);
                var reference = index.RegistrationsOf(m, fromMentions: true);
                Assert.Equal(reference.Select(r => r.Description), shortcut.Select(r => r.Description));
                if (m.DeclaredAccessibility == Accessibility.Private && m.MethodKind == MethodKind.Ordinary && shortcut.Count > 0)
                    privateRegistered++;
            }
        }
        // Not vacuous: the corpus registers many private handlers.
        Assert.True(privateRegistered >= 20, $"only {privateRegistered} private methods registered");
    }

    private static IEnumerable<(string, string)> CorpusSources()
        => TestProject.CorpusFiles()
            .Select(f => (string)f[0])
            .Select(p => (p, System.IO.File.ReadAllText(System.IO.Path.Combine(System.AppContext.BaseDirectory, p))));

    [Fact]
    public void Every_corpus_file_s_methods_are_the_ones_the_semantic_model_gives()
    {
        AssertSameFunctions(TestProject.Compile(CorpusSources()));
    }
}
