using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace KernelHarness.Generators.Tests;

/// <summary>The generator is incremental: equal inputs are cached, and no model holds a symbol or a compilation.</summary>
public sealed class IncrementalTests
{
    private static readonly string[] TrackedSteps = typeof(TrackingNames)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral)
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToArray();

    [Fact]
    public void Running_twice_on_the_same_input_caches_every_step()
    {
        var compilation = TestSources.KernelHarnessCompilation();
        var (driver, _, _) = GeneratorHarness.Run(compilation);

        var (_, second, _) = GeneratorHarness.Run(compilation.Clone(), driver);

        AssertSteps(second, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void An_edit_that_changes_no_description_leaves_every_step_cached_or_unchanged()
    {
        var compilation = TestSources.KernelHarnessCompilation();
        var (driver, _, _) = GeneratorHarness.Run(compilation);
        var slab = compilation.SyntaxTrees.Single(t => t.FilePath == "Api/SlabDescription.cs");
        var edited = slab.WithChangedText(slab.GetText().Replace(0, 0, "// a comment, and some whitespace\n\n\n"));

        var (_, second, _) = GeneratorHarness.Run(
            compilation.ReplaceSyntaxTree(slab, edited).AddSyntaxTrees(GeneratorHarness.Parse("Unrelated.cs", "namespace KernelHarness; internal static class Unrelated { }")),
            driver);

        AssertSteps(second, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void Adding_a_member_to_a_description_modifies_the_outputs()
    {
        var compilation = TestSources.KernelHarnessCompilation();
        var (driver, _, _) = GeneratorHarness.Run(compilation);
        var pages = compilation.SyntaxTrees.Single(t => t.FilePath == "Api/PageAllocatorDescription.cs");
        var text = pages.GetText().ToString();
        var at = text.LastIndexOf('}');
        var edited = pages.WithChangedText(pages.GetText().Replace(at, 0, "    [Linux(\"mm/page_alloc.c\")] ulong nr_free_highpages();\n"));

        var (_, second, _) = GeneratorHarness.Run(compilation.ReplaceSyntaxTree(pages, edited), driver);

        var descriptions = second.TrackedSteps[TrackingNames.Descriptions].SelectMany(s => s.Outputs).Select(o => o.Reason).ToList();
        Assert.Contains(IncrementalStepRunReason.Modified, descriptions);
        Assert.Contains(IncrementalStepRunReason.Modified, second.TrackedSteps[TrackingNames.AllDescriptions].SelectMany(s => s.Outputs).Select(o => o.Reason));
        Assert.Contains(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains("nr_free_highpages", second.GeneratedSources.Single(s => s.HintName == "Kernel.page_allocator.g.cs").SourceText.ToString());
    }

    [Fact]
    public void No_tracked_step_holds_a_symbol_syntax_node_location_semantic_model_or_compilation()
    {
        var (_, result, _) = GeneratorHarness.Run(TestSources.KernelHarnessCompilation());
        var student = ConformanceGeneratorTests.StudentCompilation(ConformanceGeneratorTests.StudentSource, withXunit: true);
        var (_, studentResult, _) = GeneratorHarness.Run(student);

        var walked = 0;
        foreach (var run in new[] { result, studentResult })
        {
            foreach (var name in TrackedSteps)
            {
                if (!run.TrackedSteps.TryGetValue(name, out var steps))
                {
                    continue;
                }

                foreach (var output in steps.SelectMany(s => s.Outputs))
                {
                    Walk(output.Value, name, new HashSet<object>(ReferenceEqualityComparer.Instance));
                    walked++;
                }
            }
        }

        Assert.True(walked > 10, "Too few step outputs were walked: " + walked);
    }

    private static readonly Type[] Forbidden = { typeof(ISymbol), typeof(SyntaxNode), typeof(Location), typeof(SemanticModel), typeof(Compilation), typeof(SyntaxTree) };

    private static void Walk(object? value, string path, HashSet<object> seen)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum)
        {
            return;
        }

        var type = value.GetType();
        foreach (var forbidden in Forbidden)
        {
            Assert.False(forbidden.IsAssignableFrom(type), $"{path} holds a {forbidden.Name} ({type.FullName})");
        }

        if (!type.IsValueType && !seen.Add(value))
        {
            return;
        }

        if (value is IEnumerable sequence)
        {
            var i = 0;
            foreach (var item in sequence)
            {
                Walk(item, path + "[" + i++ + "]", seen);
            }
        }

        for (var t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (var field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                Walk(field.GetValue(value), path + "." + field.Name, seen);
            }
        }
    }

    private static void AssertSteps(GeneratorRunResult result, params IncrementalStepRunReason[] allowed)
    {
        var checkedSteps = 0;
        foreach (var name in TrackedSteps)
        {
            if (!result.TrackedSteps.TryGetValue(name, out var steps))
            {
                continue;
            }

            foreach (var output in steps.SelectMany(s => s.Outputs))
            {
                Assert.True(allowed.Contains(output.Reason), $"Step {name} ran with {output.Reason}: {output.Value}");
                checkedSteps++;
            }
        }

        Assert.True(checkedSteps > 0, "No tracked step was recorded.");
    }
}
