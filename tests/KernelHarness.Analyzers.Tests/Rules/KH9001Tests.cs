using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Threading;
using KernelHarness.Analyzers.Rules;
using KernelHarness.Analyzers.Tests.Infrastructure;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Xunit;
using static KernelHarness.Analyzers.Tests.Rules.KH1001Tests;

namespace KernelHarness.Analyzers.Tests.Rules;

public class KH9001Tests
{
    public static IEnumerable<object[]> Reported() => new[]
    {
        Case("file I/O", @"string f() => [|System.IO.File.ReadAllText(""x"")|];"),
        Case("Console", @"void f() { [|System.Console.WriteLine(""hi"")|]; }"),
        Case("a thread outside the kernel API", @"void f() { var t = [|new System.Threading.Thread(() => { })|]; }"),
        Case("Environment.Exit", @"void f() { [|System.Environment.Exit(1)|]; }"),
        Case("Environment.FailFast", @"void f() { [|System.Environment.FailFast(""x"")|]; }"),
        Case("reflection", @"int f() => [|typeof(Driver).GetMethods()|].Length;"),
        Case("assembly loading", @"void f() { [|System.Reflection.Assembly.Load(""x"")|]; }"),
        Case("Activator", @"object f() => [|System.Activator.CreateInstance(typeof(Driver))|]!;"),
        Case("Marshal", @"System.IntPtr f() => [|System.Runtime.InteropServices.Marshal.AllocHGlobal(8)|];"),
        Case("processes", @"void f() { [|System.Diagnostics.Process.Start(""sh"")|]; }"),
        Case("nondeterministic Random", @"int f() => [|new System.Random()|].Next();"),
        Case("DateTime.Now", @"long f() => [|System.DateTime.Now|].Ticks;"),
        Case("Guid.NewGuid", @"System.Guid f() => [|System.Guid.NewGuid()|];"),
        Case("lock statement (Monitor)", @"readonly object gate = new(); void f() { [|lock (gate) { count++; }|] }"),
        Case("stackalloc (localloc)", @"int f() { System.Span<byte> s = [|stackalloc byte[16]|]; return s.Length; }"),
        Case("a refused type as a type argument", @"object f() { var l = [|new System.Collections.Generic.List<System.Threading.Thread>()|]; return l; }"),
        Case("a field of a refused type", @"System.IO.Stream? [|s|];"),
        Case("P/Invoke: the declaration once, not its DllImport again", @"[System.Runtime.InteropServices.DllImport(""libc"")] static extern int [|getpid|]();"),
        Case("a refused member reached through ?. on a refused value: once", @"void f() { [|typeof(Driver).GetMethod(""f"")|]?.Invoke(this, null); }"),
        Case("Task.Run", @"void f() { [|System.Threading.Tasks.Task.Run(() => { })|]; }"),
        Case("the simulated machine itself", @"object f() => [|KernelHarness.Runtime.Machine.Current|]!;"),
    };

    public static IEnumerable<object[]> Silent() => new[]
    {
        Case("the kernel API", @"int f() { var p = kmalloc(64, GFP_KERNEL); if (p == NULL) return -ENOMEM; memset(p, 0, 64); kfree(p); printk(KERN_INFO + ""ok""); return 0; }"),
        Case("collections and LINQ", @"int f() { var l = new System.Collections.Generic.List<int> { 1, 2 }; var d = new System.Collections.Generic.Dictionary<string, int>(); d[""a""] = 1; return System.Linq.Enumerable.Sum(System.Linq.Enumerable.Where(l, x => x > 0)) + d.Count; }"),
        Case("strings, StringBuilder, Math, Span", @"string f(int x) { var sb = new System.Text.StringBuilder(); sb.Append(x.ToString()); System.Span<byte> s = ptr_span(buf, 4); return sb.ToString() + System.Math.Max(x, s.Length) + $""{x}""; }"),
        Case("exceptions", @"void f(int x) { if (x < 0) throw new System.ArgumentOutOfRangeException(nameof(x)); }"),
        Case("tuples, nullable, Guid.Empty", @"(int, long?) f() { var g = System.Guid.Empty; return (g.GetHashCode(), null); }"),
        Case("delegates and lambdas", @"System.Func<int, int> f() { System.Action a = () => count++; a(); return x => x + 1; }"),
        Case("records and interfaces of the student", @"interface IThing { int Id { get; } } sealed record Thing(int Id) : IThing; int f() => new Thing(1).Id;"),
        Case("typeof, Type equality and nameof (members the list allows on System.Type)", @"bool f(object o) => o.GetType() == typeof(Driver) && nameof(Driver).Length > 0;"),
        Case("a member the list allows under a refused type wins", @"string f() => typeof(Driver).FullName ?? """";"),
        Case("bit operations for hweight/ffs (System.Numerics)", @"int f(uint status) => System.Numerics.BitOperations.PopCount(status) + System.Numerics.BitOperations.TrailingZeroCount(status);"),
        Case("little-endian register decoding, as le32_to_cpu (System.Buffers)", @"uint f() => System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(ptr_span(buf, 4));"),
    };

    [Theory]
    [MemberData(nameof(Reported))]
    public void Reported_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<ApiNotAllowedAnalyzer>.Diagnostics(Snippets.Driver(markup));
    }

    [Theory]
    [MemberData(nameof(Silent))]
    public void Silent_case(string name, string markup)
    {
        Assert.NotNull(name);
        Verify<ApiNotAllowedAnalyzer>.NoDiagnostics(Snippets.Driver(markup));
    }

    [Fact]
    public void A_field_initialized_by_naming_a_refused_static_field_is_reported_and_the_kernels_NULL_is_not()
        // Such initializers are checked from the name, without binding them (CompilationIndex.NamedFieldsIn).
        => Verify<ApiNotAllowedAnalyzer>.Diagnostics(@"
using static System.DateTimeOffset;

public sealed class Driver
{
    private kptr ring = NULL;
    private System.DateTimeOffset [|started|] = [|MinValue|];
    private System.DateTimeOffset [|stopped|] = [|System.DateTimeOffset.MaxValue|];
}");

    [Fact]
    public void A_named_initializer_is_checked_as_the_bodies_of_its_own_type_bind_the_name_not_a_nested_type_s()
        // The name is taken from a body of the same type that uses it (CompilationIndex.StaticFieldNamedInType). The
        // outer initializers name the refused DateTimeOffset.MinValue (the second as a body beside it does); Inner's
        // name its own field, which its body uses too.
        => Verify<ApiNotAllowedAnalyzer>.Diagnostics(@"
using static System.DateTimeOffset;

public sealed class Driver
{
    private kptr ring = NULL;
    private System.DateTimeOffset [|started|] = [|MinValue|];
    private bool empty() => ring == NULL;

    private sealed class Inner
    {
        private static readonly System.DateTimeOffset [|MinValue|] = default;
        private System.DateTimeOffset [|first|] = MinValue;
        private long f() => MinValue.Ticks;
    }

    private sealed class Other
    {
        private System.DateTimeOffset [|last|] = [|MinValue|];
        private long g() => [|MinValue|].Ticks;
    }
}");

    [Fact]
    public void Every_kind_of_declaration_is_checked_where_it_is_written()
        // As the driver's symbol actions saw them, each at its first declaration: nested types, events, indexers,
        // operators, a partial type (its base type, from its other part, at its first), and both parts of a partial
        // method (the definition and the implementation).
        => Verify<ApiNotAllowedAnalyzer>.Diagnostics(@"
public sealed partial class [|Driver|]
{
    public event System.IO.ErrorEventHandler? [|Failed|];
    public int [|this|][System.IO.Stream s] => 0;
    public static int operator [|+|](Driver d, System.IO.Stream s) => 0;
    private sealed class Inner
    {
        private System.IO.Stream? [|inner|];
    }
    partial void [|Opened|](System.IO.Stream s);
}

public sealed partial class Driver : System.IO.Stream
{
    private System.Threading.Thread? [|worker|];
    partial void [|Opened|](System.IO.Stream s) { }
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => 0;
    public override long Position { get; set; }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => 0;
    public override long [|Seek|](long offset, System.IO.SeekOrigin origin) => 0;
    public override void SetLength(long value) { }
    public override void Write(byte[] buffer, int offset, int count) { }
}");

    [Fact]
    public void Message_names_the_api_and_the_rule_as_the_grader_does()
    {
        Verify<ApiNotAllowedAnalyzer>.Diagnostics(@"
public sealed class Driver
{
    void f() { {|#0:System.Console.WriteLine(1)|}; }
}", Expected.Diagnostic("KH9001", 0).WithMessage("System.Console.WriteLine is not allowed in a submission (refused by '-System.Console' (default.allowlist:" + LineOf("-System.Console") + "))"));
    }

    [Fact]
    public void Analyzer_embeds_the_default_list_the_grader_embeds()
    {
        var onDisk = File.ReadAllText(Path.Combine(TestProject.RepoRoot, "analyzers", "KernelHarness.Analyzers", "Allowlist", "default.allowlist"));
        Assert.Equal(onDisk.Replace("\r\n", "\n"), Allowlist.DefaultText().Replace("\r\n", "\n"));
        var grader = File.ReadAllText(Path.Combine(TestProject.RepoRoot, "src", "KernelHarness.Grader", "KernelHarness.Grader.csproj"));
        Assert.Contains("analyzers/KernelHarness.Analyzers/Allowlist/default.allowlist", grader, System.StringComparison.Ordinal);
        Assert.Contains("LogicalName=\"KernelHarness.default.allowlist\"", grader, System.StringComparison.Ordinal);
    }

    [Fact]
    public void Assignment_allowlist_from_an_additional_file_extends_the_default()
    {
        const string source = @"
public sealed class Driver
{
    void f() { System.Console.WriteLine(1); }
    int g(int x) => System.Math.Abs(x);
}";
        var list = "include default\n+System.Console   # this assignment prints\n-System.Math\n";
        var diags = Run(source, ("assignment.allowlist", list), null);
        var d = Assert.Single(diags);
        Assert.Contains("System.Math", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
        Assert.Contains("refused by '-System.Math' (assignment.allowlist:3)", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), System.StringComparison.Ordinal);
    }

    [Fact]
    public void Editorconfig_option_selects_the_list()
    {
        const string source = @"
public sealed class Driver
{
    void f() { System.Console.WriteLine(1); }
}";
        // With two lists, the option names the one that applies; "default" ignores the files.
        Assert.Empty(Run(source, ("a.allowlist", "include default\n+System.Console\n"), "a.allowlist", ("b.allowlist", "include default\n")));
        Assert.Single(Run(source, ("a.allowlist", "include default\n+System.Console\n"), "b.allowlist", ("b.allowlist", "include default\n")));
        Assert.Single(Run(source, ("a.allowlist", "include default\n+System.Console\n"), "default"));
    }

    [Fact]
    public void Silent_without_the_kernel_api()
    {
        var compilation = TestProject.Compile(new[] { ("Plain.cs", "public class C { void f() { System.Console.WriteLine(1); } }") }, withUsings: false);
        var withoutKernel = compilation.RemoveReferences(compilation.References.Where(r => r.Display?.EndsWith("KernelHarness.dll", System.StringComparison.Ordinal) == true));
        Assert.Empty(TestProject.Analyze(withoutKernel, ImmutableArray.Create<DiagnosticAnalyzer>(new ApiNotAllowedAnalyzer())));
    }

    private static string LineOf(string rule)
    {
        var lines = Allowlist.DefaultText().Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
            if (lines[i].Trim() == rule)
                return (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "?";
    }

    private static ImmutableArray<Diagnostic> Run(string source, (string Name, string Text) file, string? option, params (string Name, string Text)[] more)
    {
        var compilation = TestProject.Compile(new[] { ("Driver.cs", source) });
        TestProject.AssertCompiles(compilation);
        var files = new[] { file }.Concat(more).Select(f => (AdditionalText)new Text(f.Name, f.Text)).ToImmutableArray();
        var options = new AnalyzerOptions(files, new Options(option));
        var withAnalyzers = compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new ApiNotAllowedAnalyzer()), new CompilationWithAnalyzersOptions(options, null, true, false, false));
        return withAnalyzers.GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult().Where(d => d.Id == "KH9001").ToImmutableArray();
    }

    private sealed class Text : AdditionalText
    {
        private readonly string text;
        public Text(string path, string text) { Path = "/assignment/" + path; this.text = text; }
        public override string Path { get; }
        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }

    private sealed class Options : AnalyzerConfigOptionsProvider
    {
        private readonly Global global;
        public Options(string? allowlist) => global = new Global(allowlist);
        public override AnalyzerConfigOptions GlobalOptions => global;
        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => global;
        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => global;

        private sealed class Global : AnalyzerConfigOptions
        {
            private readonly string? allowlist;
            public Global(string? allowlist) => this.allowlist = allowlist;
            public override bool TryGetValue(string key, out string value)
            {
                value = allowlist ?? "";
                return key == ApiNotAllowedAnalyzer.OptionName && allowlist is not null;
            }
        }
    }
}
