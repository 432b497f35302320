fn main() {
    println!("alsflow");
}
