using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Xunit;

namespace KernelHarness.Generators.Tests;

/// <summary>Pipeline B: conformance test classes in a student's compilation.</summary>
public sealed class ConformanceGeneratorTests
{
    /// <summary>What a student's project sees of KernelHarness: generated subsystem interfaces (one assignable) and the runner.</summary>
    private const string KernelHarnessSurface = """
        using System;
        using System.Collections.Generic;
        using KernelHarness.Annotations;

        namespace KernelHarness.Subsystems
        {
            [KernelSubsystem("slab", "ISlab", Assignable = true, BootOrder = 20)]
            public interface ISlab
            {
                ulong kmalloc(ulong size);
            }

            [KernelSubsystem("page allocator", "IPageAllocator", Assignable = true, BootOrder = 10)]
            public interface IPageAllocator
            {
                ulong alloc(int order);
            }

            [KernelSubsystem("irq", "IIrq")]
            public interface IIrq
            {
                int request_irq(uint irq);
            }
        }

        namespace KernelHarness.Conformance
        {
            public static class ConformanceRunner
            {
                public static IEnumerable<object[]> PublicTestCases(string subsystem) => new[] { new object[] { "alloc" } };

                public static void RunForTestFramework(string subsystem, string test, Func<object> create) { }
            }
        }
        """;

    private const string FakeXunit = """
        namespace Xunit
        {
            [System.AttributeUsage(System.AttributeTargets.Method)]
            public class FactAttribute : System.Attribute
            {
                public string? DisplayName { get; set; }
            }

            public class TheoryAttribute : FactAttribute { }

            [System.AttributeUsage(System.AttributeTargets.Method, AllowMultiple = true)]
            public sealed class MemberDataAttribute : System.Attribute
            {
                public MemberDataAttribute(string memberName, params object[] parameters) { }
            }
        }
        """;

    public const string StudentSource = """
        using KernelHarness.Subsystems;

        namespace Student.Mm
        {
            public sealed class MySlab : ISlab
            {
                public ulong kmalloc(ulong size) => 0;
            }

            public partial class Buddy : IPageAllocator
            {
                public ulong alloc(int order) => 0;
            }

            public partial class Buddy : ISlab
            {
                public ulong kmalloc(ulong size) => 0;
            }

            public abstract class AbstractSlab : ISlab
            {
                public abstract ulong kmalloc(ulong size);
            }

            public sealed class NeedsArguments : ISlab
            {
                public NeedsArguments(int x) { }
                public ulong kmalloc(ulong size) => 0;
            }

            public sealed class MyIrq : IIrq
            {
                public int request_irq(uint irq) => 0;
            }

            public sealed class Helper : System.IDisposable
            {
                public void Dispose() { }
            }
        }
        """;

    private static readonly System.Lazy<MetadataReference> kernelHarness = new(() =>
    {
        var compilation = GeneratorHarness.CreateCompilation(
            "KernelHarness",
            GeneratorHarness.AnnotationSources().Append(("Surface.cs", KernelHarnessSurface)));
        using var image = new System.IO.MemoryStream();
        var emit = compilation.Emit(image);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        return MetadataReference.CreateFromImage(image.ToArray());
    });

    public static Compilation StudentCompilation(string source, bool withXunit)
    {
        var sources = new List<(string, string)> { ("Student.cs", source) };
        if (withXunit)
        {
            sources.Add(("Xunit.cs", FakeXunit));
        }

        return GeneratorHarness.CreateCompilation("Student", sources, new[] { kernelHarness.Value });
    }

    [Fact]
    public void Conformance_classes_match_the_baselines_and_compile()
    {
        var (_, result, output) = GeneratorHarness.Run(StudentCompilation(StudentSource, withXunit: true));

        GeneratorHarness.VerifyBaselines("Conformance", result);
        Assert.Equal(string.Empty, GeneratorHarness.DescribeProblems(output));
    }

    [Fact]
    public void A_class_implementing_an_assignable_subsystem_gets_exactly_one_conformance_class()
    {
        var (_, result, _) = GeneratorHarness.Run(StudentCompilation(StudentSource, withXunit: true));

        var mine = result.GeneratedSources.Where(s => s.HintName.Contains(".MySlab.")).ToList();
        var source = Assert.Single(mine).SourceText.ToString();
        Assert.Contains("namespace Student.Mm.Conformance;", source);
        Assert.Contains("public sealed partial class MySlab_Slab_Conformance", source);
        Assert.Contains("static () => new global::Student.Mm.MySlab()", source);
    }

    [Fact]
    public void A_partial_class_implementing_two_subsystems_gets_one_class_per_subsystem()
    {
        var (_, result, _) = GeneratorHarness.Run(StudentCompilation(StudentSource, withXunit: true));

        Assert.Equal(
            new[] { "Conformance.Student.Mm.Buddy.PageAllocator.g.cs", "Conformance.Student.Mm.Buddy.Slab.g.cs" },
            result.GeneratedSources.Select(s => s.HintName).Where(h => h.Contains(".Buddy.")).OrderBy(h => h, System.StringComparer.Ordinal));
    }

    [Fact]
    public void Abstract_classes_classes_without_a_parameterless_constructor_and_unassignable_subsystems_get_none()
    {
        var (_, result, _) = GeneratorHarness.Run(StudentCompilation(StudentSource, withXunit: true));

        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.Contains("AbstractSlab"));
        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.Contains("NeedsArguments"));
        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.Contains("MyIrq"));
        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.Contains("Helper"));
    }

    [Fact]
    public void Without_xunit_nothing_is_generated()
    {
        var (_, result, _) = GeneratorHarness.Run(StudentCompilation(StudentSource, withXunit: false));

        Assert.Empty(result.GeneratedSources);
    }

    [Fact]
    public void Editing_an_unrelated_student_file_leaves_the_conformance_steps_cached()
    {
        var compilation = StudentCompilation(StudentSource, withXunit: true);
        var (driver, _, _) = GeneratorHarness.Run(compilation);

        var (_, second, _) = GeneratorHarness.Run(compilation.AddSyntaxTrees(GeneratorHarness.Parse("Other.cs", "namespace Student; internal static class Other { }")), driver);

        Assert.All(
            second.TrackedSteps[TrackingNames.ConformanceJobs].SelectMany(s => s.Outputs),
            o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
        Assert.All(second.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }
}
